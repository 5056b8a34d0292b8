package delivery

import (
	"reflect"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
)

// TestGCSOutput runs a replay into gs:// on fake-gcs-server and checks that it writes the
// same tree as on local disk.
func TestGCSOutput(t *testing.T) {
	gcsfake.Start(t, "events")

	msgs, err := replaygen.Generate(replaygen.Spec{
		Start: ts("2026-11-20T07:00:00Z"), Span: 2 * time.Hour, Events: 500,
		Retries: 0.05, Redelivers: 0.03, Skewed: 0.03, Invalid: 0.03, Seed: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	input := writeReplay(t, msgs)
	run := func(output string) {
		cfg := testConfig(t)
		cfg.Input, cfg.Output = input, output
		p, s := beam.NewPipelineWithRoot()
		Build(s, cfg, nil)
		if err := ptest.Run(p); err != nil {
			t.Fatalf("pipeline to %s failed: %v", output, err)
		}
	}
	local := testConfig(t)
	run(local.Output)
	run("gs://events/raw")

	gcs := local
	gcs.Output = "gs://events/raw"
	want, got := readTree(t, local), readTree(t, gcs)
	if !reflect.DeepEqual(got.Dirs(), want.Dirs()) || len(got.Dirs()) == 0 {
		t.Fatalf("gs:// buckets %v, local %v", got.Dirs(), want.Dirs())
	}
	for _, d := range want.Dirs() {
		w, g := want.Buckets[d], got.Buckets[d]
		if g.Manifest == nil || !reflect.DeepEqual(g.Manifest.Files, w.Manifest.Files) || g.Manifest.Invalid != w.Manifest.Invalid || g.Manifest.Duplicates != w.Manifest.Duplicates {
			t.Errorf("%s: gs:// manifest %+v, local %+v", d, g.Manifest, w.Manifest)
		}
		if !reflect.DeepEqual(ids(g), ids(w)) {
			t.Errorf("%s: gs:// holds other events than local disk", d)
		}
		if len(got.DeadLetters[d]) != len(want.DeadLetters[d]) {
			t.Errorf("%s: %d dead letters on gs://, %d local", d, len(got.DeadLetters[d]), len(want.DeadLetters[d]))
		}
	}
}
