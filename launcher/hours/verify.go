package hours

import (
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/output"
)

// Problem is one way a closed bucket differs from its manifest.
type Problem struct {
	// File is the object concerned ("" for the manifest itself).
	File    string `json:"file,omitempty"`
	Problem string `json:"problem"`
}

// Verification is what Verify found of one bucket.
type Verification struct {
	EventType string `json:"event_type"`
	Hour      string `json:"hour"`
	Manifest  string `json:"manifest"`
	Closed    bool   `json:"closed"`
	// Files and Records count what was checked: the data and dead-letter files listed,
	// and the records found in them.
	Files    int       `json:"files"`
	Records  int64     `json:"records"`
	Problems []Problem `json:"problems"`
}

// OK reports whether the bucket is closed and exactly what its manifest says.
func (v *Verification) OK() bool { return v.Closed && len(v.Problems) == 0 }

// Verify checks closed bucket start against its manifest: every listed data and
// dead-letter file is there, is readable Avro and holds the records the manifest counts
// for it, and, when the manifest gives it, the file's header schema has the fingerprint
// listed; the manifest's records are the sum of its data files' and, when it counts them
// by writer revision, the sum of records_by_revision; and no data file in the bucket's
// folders is left unlisted. An open bucket is a problem too. Errors are the
// store's; what is wrong with the bucket is in the Problems.
func Verify(ctx context.Context, st Store, t output.Target, start int64) (*Verification, error) {
	v := &Verification{EventType: t.EventType, Hour: output.Format(start), Manifest: t.ManifestPath(start), Problems: []Problem{}}
	m, err := t.ReadManifest(ctx, st, start)
	if err != nil {
		return nil, fmt.Errorf("verify %s %s: %w", t.EventType, v.Hour, err)
	}
	if m == nil {
		v.Problems = append(v.Problems, Problem{Problem: "open: no manifest"})
		return v, nil
	}
	v.Closed = true
	for _, part := range []struct {
		dir   string
		files []output.File
	}{{t.Dir(start), m.Files}, {t.DeadLetterDir(start), m.DeadLetterFiles}} {
		if err := v.checkFolder(ctx, st, part.dir, part.files); err != nil {
			return nil, fmt.Errorf("verify %s %s: %w", t.EventType, v.Hour, err)
		}
	}
	var sum int64
	for _, f := range m.Files {
		sum += f.Records
	}
	if sum != m.Records {
		v.Problems = append(v.Problems, Problem{Problem: fmt.Sprintf("records %d, but its files list %d", m.Records, sum)})
	}
	if m.RecordsByRevision != nil { // absent in manifests written before it was recorded
		var byRev int64
		for _, n := range m.RecordsByRevision {
			byRev += n
		}
		if byRev != m.Records {
			v.Problems = append(v.Problems, Problem{Problem: fmt.Sprintf("records %d, but records_by_revision sums to %d", m.Records, byRev)})
		}
	}
	return v, nil
}

// checkFolder checks the files listed for dir against what dir holds.
func (v *Verification) checkFolder(ctx context.Context, st Store, dir string, listed []output.File) error {
	names := map[string]bool{}
	for _, f := range listed {
		p := output.Join(dir, f.Name)
		names[f.Name] = true
		v.Files++
		ok, err := st.Exists(ctx, p)
		if err != nil {
			return err
		}
		if !ok {
			v.Problems = append(v.Problems, Problem{File: p, Problem: "listed in the manifest, not there"})
			continue
		}
		data, err := st.Read(ctx, p)
		if err != nil {
			return err
		}
		if f.Bytes > 0 && int64(len(data)) != f.Bytes { // manifests of version 1 have no sizes
			v.Problems = append(v.Problems, Problem{File: p, Problem: fmt.Sprintf("is %d bytes, the manifest says %d", len(data), f.Bytes)})
		}
		info, err := avrofile.Stat(data)
		if err != nil {
			v.Problems = append(v.Problems, Problem{File: p, Problem: "not readable Avro: " + err.Error()})
			continue
		}
		v.Records += info.Records
		if info.Records != f.Records {
			v.Problems = append(v.Problems, Problem{File: p, Problem: fmt.Sprintf("holds %d records, the manifest says %d", info.Records, f.Records)})
		}
		if f.SchemaFingerprint != "" { // absent for dead letters and in older manifests
			if msg := checkFingerprint(info, f.SchemaFingerprint); msg != "" {
				v.Problems = append(v.Problems, Problem{File: p, Problem: msg})
			}
		}
	}
	found, err := st.List(ctx, output.Join(dir, output.DataFiles))
	if err != nil {
		return err
	}
	slices.Sort(found)
	for _, p := range found {
		if !names[path.Base(p)] {
			v.Problems = append(v.Problems, Problem{File: p, Problem: "not listed in the manifest"})
		}
	}
	return nil
}

// checkFingerprint compares the fingerprint of a file's header schema (internal/codec's:
// SHA-256 of its Parsing Canonical Form) with the manifest's; "" when they agree.
func checkFingerprint(info avrofile.Info, want string) string {
	got, err := codec.Fingerprint(string(info.Meta["avro.schema"]))
	if err != nil {
		return "its header's schema has no fingerprint: " + err.Error()
	}
	if got != want {
		return fmt.Sprintf("its header's schema has the fingerprint %s, the manifest says %s", got, want)
	}
	return ""
}
