package decode

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// python returns Debian's python3 with Apache Avro's reader. It fails, never skips, when
// the reader is missing: .ci/run installs it.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("EVENTDELIVERY_PYTHON"), "/usr/bin/python3", "python3"} {
		if p != "" && exec.Command(p, "-c", "import avro, snappy").Run() == nil {
			return p
		}
	}
	t.Fatal("Apache Avro's Python reader is missing: apt-get install -y python3-avro python3-snappy (or set EVENTDELIVERY_PYTHON to a python3 that has avro and snappy)")
	return ""
}

// mutate returns a hostile copy of a valid message: truncated, bit-flipped, with a huge
// length prefix or block count, random bytes, trailing garbage, broken JSON, or empty.
func mutate(r *rand.Rand, m message.Message) message.Message {
	data := append([]byte{}, m.Data...)
	json := m.Attributes[EncodingAttribute] == "JSON"
	switch r.IntN(8) {
	case 0:
		data = data[:r.IntN(len(data))]
	case 1:
		for range 1 + r.IntN(3) {
			data[r.IntN(len(data))] ^= 1 << r.IntN(8)
		}
	case 2:
		data = append(binary.AppendVarint(nil, 1<<40), data...) // a string claiming a terabyte
	case 3:
		data = append(binary.AppendVarint(nil, 3_000_000_000), data...) // a count in the billions
	case 4:
		data = make([]byte, r.IntN(64))
		for i := range data {
			data[i] = byte(r.IntN(256))
		}
	case 5:
		data = append(data, "garbage"...)
	case 6:
		if json {
			data = []byte(strings.Replace(string(data), `"`, `\u`, 1+r.IntN(3)))
		} else {
			data[r.IntN(len(data))] = 0xff
		}
	default:
		data = nil
	}
	m.Data = data
	return m
}

// TestHostileInputStaysReadable decodes 3,000 hostile messages and writes what it accepts
// as the sink writes it; Apache Avro's Python reader must read every accepted record.
func TestHostileInputStaysReadable(t *testing.T) {
	py := python(t)
	msgs, err := replaygen.Generate(replaygen.Spec{Start: time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC), Span: time.Hour, Events: 3000, JSON: 0.2, Seed: 18})
	if err != nil {
		t.Fatal(err)
	}
	d := fuzzDecoder(t, "attribute:event_id", "field:client_time")
	r := rand.New(rand.NewPCG(18, 18))
	w := avrofile.NewWriter(replaygen.Schema, "hostile.avro")
	dead := 0
	for _, g := range msgs {
		e, reason := d.Decode(mutate(r, g.Message))
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
	out, err := exec.Command(py, "-c", `import sys, avro.datafile, avro.io
with open(sys.argv[1], "rb") as f:
    print(sum(1 for _ in avro.datafile.DataFileReader(f, avro.io.DatumReader())))`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("Apache Avro's Python reader cannot read the file: %v\n%s", err, out)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != w.Records() {
		t.Fatalf("Python read %q records, the file holds %d", out, w.Records())
	}
	t.Logf("%d messages: %d records, read back by Apache Avro's Python reader; %d dead letters", len(msgs), w.Records(), dead)
}
