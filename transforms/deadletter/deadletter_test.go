package deadletter

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// Write refuses a shard count it cannot key by when the pipeline is built, not later.
func TestWriteRefusesNoShards(t *testing.T) {
	for _, shards := range []int{0, -1} {
		_, s := beam.NewPipelineWithRoot()
		dead := beam.Create(s, message.DeadLetter{Reason: "x"})
		tg := output.Target{Root: t.TempDir(), EventType: "play-track", Layout: output.Layout{Width: time.Hour}}
		func() {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.HasPrefix(msg, "deadletter.Write: shards") {
					t.Errorf("shards %d: recovered %v, want a deadletter.Write panic naming shards", shards, r)
				}
			}()
			Write(s, dead, Config{Target: tg, Shards: shards})
		}()
	}
}
