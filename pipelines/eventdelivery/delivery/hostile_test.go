package delivery

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/eventdelivery/eventdelivery/internal/testkit/hostile"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
)

// TestHostileReplayAccountsForEveryMessage replays 3,000 messages of which most are mutated
// the ways a broken or malicious producer sends them, with client retries among them. Every
// message is accounted for (records + duplicates + dead letters = messages), every data and
// dead-letter file a manifest lists is read by Apache Avro's own Python reader with the
// records the manifest counts, and nothing is in a folder that its manifest does not list.
func TestHostileReplayAccountsForEveryMessage(t *testing.T) {
	py := hostile.Python(t)
	cfg := testConfig(t)
	msgs, err := replaygen.Generate(replaygen.Spec{Start: ts("2026-11-20T07:00:00Z"), Span: 2 * time.Hour, Events: 3000, Retries: 0.05, JSON: 0.2, Seed: 18})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(18, 81))
	for i := range msgs {
		if r.Float64() < 0.85 {
			msgs[i].Message = hostile.Mutate(r, msgs[i].Message)
		}
	}
	cfg.Input = writeReplay(t, msgs)
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	tree := readTree(t, cfg) // and outputtree.Check: nothing unlisted, counts per file exact

	var records, dups, invalid int64
	var paths []string
	var counted []int64
	base := filepath.Join(cfg.Output, cfg.EventType)
	for _, d := range tree.Dirs() {
		m := tree.Buckets[d].Manifest
		if m == nil {
			t.Errorf("%s: left open at the end of a replay", d)
			continue
		}
		records, dups, invalid = records+m.Records, dups+m.Duplicates, invalid+m.Invalid
		for _, f := range m.Files {
			paths, counted = append(paths, filepath.Join(base, d, f.Name)), append(counted, f.Records)
		}
		for _, f := range m.DeadLetterFiles {
			paths, counted = append(paths, filepath.Join(base, "_deadletter", d, f.Name)), append(counted, f.Records)
		}
	}
	if records+dups+invalid != int64(len(msgs)) || records == 0 || invalid == 0 || dups == 0 {
		t.Errorf("manifests count %d records + %d duplicates + %d dead letters = %d, want %d messages and some of each", records, dups, invalid, records+dups+invalid, len(msgs))
	}
	got, err := hostile.Count(py, paths...)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range got {
		if int64(n) != counted[i] {
			t.Errorf("%s: Apache Avro's Python reader read %d records, the manifest counts %d", paths[i], n, counted[i])
		}
	}
	t.Logf("%d messages: %d records, %d duplicates, %d dead letters; %d files read back by Apache Avro's Python reader", len(msgs), records, dups, invalid, len(paths))
}
