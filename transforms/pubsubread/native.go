package pubsubread

import (
	"fmt"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/pubsubio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.Function2x1(fromProto)
}

// Native reads the subscription (projects/P/subscriptions/S) with Beam's pubsubio.Read, which
// the Dataflow runner replaces with its own Pub/Sub source, and returns an unbounded
// PCollection<message.Message> like Read. It works only on Dataflow. Elements are timestamped
// with the publish time by Dataflow; when idAttribute is not empty, Dataflow also drops
// messages whose idAttribute value it has seen before (see pubsubio.ReadOptions.IDAttribute).
func Native(s beam.Scope, subscription string, idAttribute string) beam.PCollection {
	s = s.Scope("pubsubread.Native")
	project, err := projectOf(subscription)
	if err != nil {
		panic(fmt.Sprintf("pubsubread.Native: %v", err))
	}
	name := subscription[len("projects/"+project+"/subscriptions/"):]
	msgs := pubsubio.Read(s, project, pubsubio.ReadOptions{
		Subscription:   name,
		IDAttribute:    idAttribute,
		WithAttributes: true,
	})
	return beam.ParDo(s, fromProto, msgs)
}

// fromProto converts what Dataflow's source emits. The publish time is the proto's when set,
// else the element's timestamp, which Dataflow sets to the publish time.
func fromProto(ts beam.EventTime, m *pb.PubsubMessage) message.Message {
	publish := ts.Milliseconds()
	if pt := m.GetPublishTime(); pt != nil && pt.IsValid() && (pt.GetSeconds() != 0 || pt.GetNanos() != 0) {
		publish = pt.AsTime().UnixMilli()
	}
	return message.Message{
		ID:          m.GetMessageId(),
		PublishTime: publish,
		Attributes:  m.GetAttributes(),
		Data:        m.GetData(),
	}
}
