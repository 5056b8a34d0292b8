package hours_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/hours"
	"github.com/eventdelivery/eventdelivery/launcher/hours/hourstest"
	"github.com/eventdelivery/eventdelivery/output"
)

func TestVerify(t *testing.T) {
	roots(t, func(t *testing.T, f *fleet.Fleet) {
		ctx := context.Background()
		tr := hourstest.New(t, f.Jobs()[0].OutputTarget())
		h := hourstest.At("2026-12-01T10:00:00Z")
		closedAt := hourstest.When("2026-12-01T11:31:00Z")
		verify := func(t *testing.T, start int64) *hours.Verification {
			t.Helper()
			v, err := hours.Verify(ctx, tr.Store, tr.Target, start)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		// The output is written here, outside the steps (tr fails the test it was made
		// with); each step verifies one hour.

		// An hour as its manifest says.
		files := []output.File{tr.File(h, "part-run-1-0-0.avro", 3), tr.File(h, "part-run-1-0-1.avro", 2)}
		dead := []output.File{tr.DeadLetters(h, "part-run-1-0-0.avro", 2)}
		tr.Close(h, closedAt, output.Manifest{Invalid: 2}, files, dead)
		t.Run("a good hour is OK", func(t *testing.T) {
			if v := verify(t, h); !v.OK() || v.Files != 3 || v.Records != 7 || len(v.Problems) != 0 {
				t.Errorf("good hour: %+v; want OK, 3 files, 7 records", v)
			}
		})

		t.Run("an open hour has no manifest", func(t *testing.T) {
			if v := verify(t, tr.Target.Layout.Next(h)); v.OK() || v.Closed ||
				!reflect.DeepEqual(v.Problems, []hours.Problem{{Problem: "open: no manifest"}}) {
				t.Errorf("open hour: %+v", v)
			}
		})

		// Every way an hour differs from its manifest, each found and named.
		dir, deadDir := tr.Target.Dir(h), tr.Target.DeadLetterDir(h)
		corrupt := tr.Avro("part-run-1-0-1.avro", 2)
		corrupt[len(corrupt)-20] ^= 0xff // inside the last block: its CRC no longer matches
		tr.Write(output.Join(dir, "part-run-1-0-1.avro"), corrupt)
		tr.Write(output.Join(dir, "part-run-1-0-2.avro"), tr.Avro("part-run-1-0-2.avro", 1))     // not listed
		tr.Write(output.Join(deadDir, "part-run-2-0-0.avro"), tr.Avro("part-run-2-0-0.avro", 1)) // not listed
		m := output.Manifest{Invalid: 2}
		files = []output.File{
			{Name: "part-run-1-0-0.avro", Records: 4}, // holds 3
			{Name: "part-run-1-0-1.avro", Records: 2}, // corrupted
			{Name: "part-run-1-0-9.avro", Records: 5}, // not there
		}
		tr.Close(h, closedAt, m, files, dead)
		t.Run("every way an hour differs from its manifest is named", func(t *testing.T) {
			v := verify(t, h)
			want := []hours.Problem{
				{File: output.Join(dir, "part-run-1-0-0.avro"), Problem: "holds 3 records, the manifest says 4"},
				{File: output.Join(dir, "part-run-1-0-1.avro"), Problem: v.Problems[1].Problem},
				{File: output.Join(dir, "part-run-1-0-9.avro"), Problem: "listed in the manifest, not there"},
				{File: output.Join(dir, "part-run-1-0-2.avro"), Problem: "not listed in the manifest"},
				{File: output.Join(deadDir, "part-run-2-0-0.avro"), Problem: "not listed in the manifest"},
			}
			if !v.Closed || v.OK() || !reflect.DeepEqual(v.Problems, want) {
				t.Errorf("bad hour: problems\n%+v\nwant\n%+v", v.Problems, want)
			}
			if p := v.Problems[1].Problem; !strings.HasPrefix(p, "not readable Avro: ") {
				t.Errorf("corrupted file: %q, want not readable Avro", p)
			}
		})

		// A file of another size than its manifest says (manifests of version 2 list sizes).
		k := hourstest.At("2026-12-01T13:00:00Z")
		sized := tr.File(k, "part-run-1-0-0.avro", 2)
		sized.Bytes++
		tr.Close(k, closedAt, output.Manifest{}, []output.File{sized}, nil)
		t.Run("a file of another size than the manifest says", func(t *testing.T) {
			if v := verify(t, k); !reflect.DeepEqual(v.Problems, []hours.Problem{{File: output.Join(tr.Target.Dir(k), sized.Name),
				Problem: fmt.Sprintf("is %d bytes, the manifest says %d", sized.Bytes-1, sized.Bytes)}}) {
				t.Errorf("wrong size: %+v", v.Problems)
			}
		})

		// A manifest whose total is not the sum of its files.
		b, err := output.Manifest{EventType: "type-000", ClosedAt: closedAt.Format("2006-01-02T15:04:05Z"), Records: 9,
			Files: []output.File{{Name: "part-run-1-0-0.avro", Records: 3}}, DeadLetterFiles: []output.File{}}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		g := hourstest.At("2026-12-01T12:00:00Z")
		tr.File(g, "part-run-1-0-0.avro", 3)
		tr.Write(tr.Target.ManifestPath(g), b)
		t.Run("a manifest whose total is not the sum of its files", func(t *testing.T) {
			if v := verify(t, g); !reflect.DeepEqual(v.Problems, []hours.Problem{{Problem: "records 9, but its files list 3"}}) {
				t.Errorf("wrong total: %+v", v.Problems)
			}
		})

		// Counts by writer revision: summing to records is fine; summing to anything else
		// is a problem.
		r := hourstest.At("2026-12-01T14:00:00Z")
		revFiles := []output.File{tr.File(r, "part-run-1-0-0.avro", 5)}
		tr.Close(r, closedAt, output.Manifest{RecordsByRevision: map[string]int64{"1a2b3c4d": 3, output.NoRevision: 2}}, revFiles, nil)
		t.Run("records_by_revision summing to records is OK", func(t *testing.T) {
			if v := verify(t, r); !v.OK() {
				t.Errorf("records_by_revision summing to records: %+v", v.Problems)
			}
		})
		tr.Close(r, closedAt, output.Manifest{RecordsByRevision: map[string]int64{"1a2b3c4d": 3, "5e6f7a8b": 1}}, revFiles, nil)
		t.Run("records_by_revision summing to anything else is a problem", func(t *testing.T) {
			if v := verify(t, r); !reflect.DeepEqual(v.Problems, []hours.Problem{{Problem: "records 5, but records_by_revision sums to 4"}}) {
				t.Errorf("records_by_revision off: %+v", v.Problems)
			}
		})

		// A file whose header schema is not the one the manifest fingerprints.
		s := hourstest.At("2026-12-01T15:00:00Z")
		fp := tr.File(s, "part-run-1-0-0.avro", 2)
		if fp.SchemaFingerprint == "" {
			t.Fatal("hourstest lists no fingerprint")
		}
		good := fp.SchemaFingerprint
		fp.SchemaFingerprint = strings.Repeat("0", 64)
		tr.Close(s, closedAt, output.Manifest{}, []output.File{fp}, nil)
		t.Run("a header schema other than the manifest fingerprints", func(t *testing.T) {
			if v := verify(t, s); !reflect.DeepEqual(v.Problems, []hours.Problem{{File: output.Join(tr.Target.Dir(s), fp.Name),
				Problem: "its header's schema has the fingerprint " + good + ", the manifest says " + fp.SchemaFingerprint}}) {
				t.Errorf("wrong fingerprint: %+v", v.Problems)
			}
		})
	})
}
