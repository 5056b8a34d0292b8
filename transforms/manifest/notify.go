package manifest

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/pubsub/v2"

	"github.com/eventdelivery/eventdelivery/output"
)

// Attributes of a close notification. The data is the manifest itself, as written.
const (
	AttrEventType   = "event_type"
	AttrBucketStart = "bucket_start"
	AttrBucketEnd   = "bucket_end"
	AttrManifest    = "manifest" // the manifest's path: what a consumer dedupes on
)

// notifier publishes one message per closed bucket to a Pub/Sub topic, once the bucket's
// manifest is written.
type notifier struct {
	client *pubsub.Client
	pub    *pubsub.Publisher
}

// newNotifier returns a publisher to topic (projects/P/topics/T). The client honours
// PUBSUB_EMULATOR_HOST.
func newNotifier(ctx context.Context, topic string) (*notifier, error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "topics" || parts[1] == "" || parts[3] == "" {
		return nil, fmt.Errorf("notify topic %q: want projects/P/topics/T", topic)
	}
	c, err := pubsub.NewClient(ctx, parts[1])
	if err != nil {
		return nil, fmt.Errorf("notify topic %s: client: %w", topic, err)
	}
	return &notifier{client: c, pub: c.Publisher(topic)}, nil
}

// notify publishes the manifest body of m, written at path, and waits until Pub/Sub has it.
func (n *notifier) notify(ctx context.Context, m *output.Manifest, path string, body []byte) error {
	res := n.pub.Publish(ctx, &pubsub.Message{Data: body, Attributes: map[string]string{
		AttrEventType: m.EventType, AttrBucketStart: m.BucketStart, AttrBucketEnd: m.BucketEnd, AttrManifest: path,
	}})
	if _, err := res.Get(ctx); err != nil {
		return fmt.Errorf("notify bucket %s closed: %w", m.BucketStart, err)
	}
	return nil
}

func (n *notifier) close() error {
	n.pub.Stop()
	return n.client.Close()
}
