// Package hostile makes the messages a broken or malicious producer sends, and reads what
// the pipeline wrote with Apache Avro's own Python reader, the second, independent reader
// every data file must satisfy.
package hostile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// Mutate returns a hostile copy of a valid message: truncated, bit-flipped, with a huge
// length prefix or block count, random bytes, trailing garbage, broken JSON, or empty.
// Its attributes (event id, encoding) stay, so each mutant is still one event. The package
// imports no transform, so that the transforms' own tests may use it.
func Mutate(r *rand.Rand, m message.Message) message.Message {
	data := append([]byte{}, m.Data...)
	json := len(data) > 0 && data[0] == '{'
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

// Python returns Debian's python3 with Apache Avro's reader. It fails the test, never skips,
// when the reader is missing: .ci/run installs it.
func Python(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("EVENTDELIVERY_PYTHON"), "/usr/bin/python3", "python3"} {
		if p != "" && exec.Command(p, "-c", "import avro, snappy").Run() == nil {
			return p
		}
	}
	t.Fatal("Apache Avro's Python reader is missing: apt-get install -y python3-avro python3-snappy (or set EVENTDELIVERY_PYTHON to a python3 that has avro and snappy)")
	return ""
}

// countScript prints, per file named on its command line, the records Apache Avro's reader
// reads from it; a file it cannot read stops it with the reader's error.
const countScript = `import sys, avro.datafile, avro.io
for p in sys.argv[1:]:
    with open(p, "rb") as f:
        print(sum(1 for _ in avro.datafile.DataFileReader(f, avro.io.DatumReader())))`

// Count returns how many records Apache Avro's Python reader (python, from Python) reads
// from each of the local files paths, or its error for the first file it cannot read.
func Count(python string, paths ...string) ([]int, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	out, err := exec.Command(python, append([]string{"-c", countScript}, paths...)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("apache avro's python reader: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(paths) {
		return nil, fmt.Errorf("apache avro's python reader printed %q for %d files", out, len(paths))
	}
	counts := make([]int, len(paths))
	for i, l := range lines {
		if counts[i], err = strconv.Atoi(l); err != nil {
			return nil, fmt.Errorf("apache avro's python reader printed %q for %s", l, paths[i])
		}
	}
	return counts, nil
}

// readAsScript prints, per file named after the reader schema on its command line, the
// records Apache Avro's reader reads from it with that reader schema, resolving the file's
// own schema into it: one JSON array per line.
const readAsScript = `import sys, json, avro.datafile, avro.io, avro.schema
reader = avro.schema.parse(sys.argv[1])
for p in sys.argv[2:]:
    with open(p, "rb") as f:
        print(json.dumps(list(avro.datafile.DataFileReader(f, avro.io.DatumReader(readers_schema=reader)))))`

// ReadAs returns the records of each of the local files paths as Apache Avro's Python
// reader (python, from Python) reads them with reader as its reader schema, resolving each
// file's schema into it by Avro's rules: the records decoded from JSON (numbers float64,
// unions as their value, enums as their symbol). It fails on the first file the reader
// cannot read.
func ReadAs(python, reader string, paths ...string) ([][]map[string]any, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	out, err := exec.Command(python, append([]string{"-c", readAsScript, reader}, paths...)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("apache avro's python reader: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(paths) {
		return nil, fmt.Errorf("apache avro's python reader printed %d lines for %d files:\n%s", len(lines), len(paths), out)
	}
	recs := make([][]map[string]any, len(paths))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &recs[i]); err != nil {
			return nil, fmt.Errorf("apache avro's python reader printed %q for %s: %w", l, paths[i], err)
		}
	}
	return recs, nil
}
