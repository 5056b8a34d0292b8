package replay

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/inflight"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn1x0[message.Event](&countInFn{})
}

// CountIn counts the events of PCollection<message.Event> (placed in their buckets) as in
// flight at the inflight.Gate of key (see WithGate); the sink counts them out once written
// or dropped (sink.Config.Gate). It consumes them beside the pipeline, in the same stage, and
// outputs nothing.
func CountIn(s beam.Scope, key string, events beam.PCollection) {
	beam.ParDo0(s.Scope("replay.CountIn"), &countInFn{Gate: key}, events)
}

type countInFn struct {
	Gate string
	g    *inflight.Gate
}

func (f *countInFn) Setup() { f.g = inflight.For(f.Gate) }

func (f *countInFn) ProcessElement(message.Event) { f.g.Enter(1) }
