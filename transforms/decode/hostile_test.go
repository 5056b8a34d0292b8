package decode

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/testkit/hostile"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
)

// TestHostileInputStaysReadable decodes 3,000 hostile messages and writes what it accepts
// as the sink writes it; Apache Avro's Python reader must read every accepted record.
func TestHostileInputStaysReadable(t *testing.T) {
	py := hostile.Python(t)
	msgs, err := replaygen.Generate(replaygen.Spec{Start: time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC), Span: time.Hour, Events: 3000, JSON: 0.2, Seed: 18})
	if err != nil {
		t.Fatal(err)
	}
	d := fuzzDecoder(t, "attribute:event_id", "field:client_time")
	r := rand.New(rand.NewPCG(18, 18))
	w := avrofile.NewWriter(replaygen.Schema, "hostile.avro")
	dead := 0
	for _, g := range msgs {
		e, reason := d.Decode(hostile.Mutate(r, g.Message))
		if reason != "" {
			dead++
			continue
		}
		w.Append(e.Record)
	}
	if w.Records()+dead != len(msgs) || w.Records() == 0 || dead == 0 {
		t.Fatalf("%d records + %d dead letters, want %d messages, some of each", w.Records(), dead, len(msgs))
	}
	path := filepath.Join(t.TempDir(), "hostile.avro")
	if err := os.WriteFile(path, w.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	counts, err := hostile.Count(py, path)
	if err != nil {
		t.Fatal(err)
	}
	if counts[0] != w.Records() {
		t.Fatalf("Python read %d records, the file holds %d", counts[0], w.Records())
	}
	t.Logf("%d messages: %d records, read back by Apache Avro's Python reader; %d dead letters", len(msgs), w.Records(), dead)
}
