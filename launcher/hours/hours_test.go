package hours_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/hours"
	"github.com/eventdelivery/eventdelivery/launcher/hours/hourstest"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/output"
)

func openStore(ctx context.Context, root string) (hours.Store, error) {
	return objstore.Open(ctx, root)
}

// roots runs test on a fleet of two event types (skew tolerance 30m, hourly buckets)
// whose output is on fake-gcs-server, then on local disk, in each folder layout.
func roots(t *testing.T, test func(t *testing.T, f *fleet.Fleet)) {
	for _, paths := range []output.Paths{output.DatePaths, output.HivePaths} {
		spec := launchertest.Spec{EventTypes: 2, Extra: "  layout: " + string(paths) + "\n"}
		hive := func(t *testing.T, f *fleet.Fleet) {
			t.Helper()
			if dir := f.Jobs()[0].OutputTarget().Dir(0); strings.Contains(dir, "/dt=1970-01-01/hour=00") != (paths == output.HivePaths) {
				t.Fatalf("layout %s, but the hours are read from %s", paths, dir)
			}
		}
		t.Run(string(paths)+"/gcs", func(t *testing.T) {
			gcsfake.Start(t, "bucket")
			f := launchertest.Load(t, t.TempDir(), spec)
			hive(t, f)
			test(t, f)
		})
		t.Run(string(paths)+"/disk", func(t *testing.T) {
			f := launchertest.Load(t, t.TempDir(), spec)
			f.Defaults.Output = t.TempDir()
			hive(t, f)
			test(t, f)
		})
	}
}

// seed writes the hours 08:00 to 10:00 of 2026-12-01 of both event types: type-000 has an
// hour closed on time, one closed 15m after close time + 15m, one with a file and no
// manifest; type-001 closed all three on time, the last one empty.
func seed(t *testing.T, f *fleet.Fleet) (t0, t1 *hourstest.Tree) {
	jobs := f.Jobs()
	t0, t1 = hourstest.New(t, jobs[0].OutputTarget()), hourstest.New(t, jobs[1].OutputTarget())
	h8, h9, h10 := hourstest.At("2026-12-01T08:00:00Z"), hourstest.At("2026-12-01T09:00:00Z"), hourstest.At("2026-12-01T10:00:00Z")
	t0.Close(h8, hourstest.When("2026-12-01T09:40:00Z"), output.Manifest{Duplicates: 1, Skewed: 2, Invalid: 1},
		[]output.File{t0.File(h8, "part-run-1-0-0.avro", 3), t0.File(h8, "part-run-1-0-1.avro", 2)},
		[]output.File{t0.DeadLetters(h8, "part-run-1-0-0.avro", 1)})
	t0.Close(h9, hourstest.When("2026-12-01T11:00:00Z"), output.Manifest{}, []output.File{t0.File(h9, "part-run-1-0-0.avro", 4)}, nil)
	t0.File(h10, "part-run-1-0-0.avro", 6)
	t1.Close(h8, hourstest.When("2026-12-01T09:31:00Z"), output.Manifest{}, []output.File{t1.File(h8, "part-run-1-0-0.avro", 7)}, nil)
	t1.Close(h9, hourstest.When("2026-12-01T10:31:00Z"), output.Manifest{}, []output.File{t1.File(h9, "part-run-1-0-0.avro", 1)}, nil)
	t1.Close(h10, hourstest.When("2026-12-01T11:31:00Z"), output.Manifest{}, nil, nil)
	return t0, t1
}

func TestRead(t *testing.T) {
	roots(t, func(t *testing.T, f *fleet.Fleet) {
		ctx := context.Background()
		t0, _ := seed(t, f)
		now := hourstest.When("2026-12-01T12:10:00Z")
		grace := 15 * time.Minute
		r, err := hours.Read(ctx, f, hours.Options{Now: now, Since: 4 * time.Hour, Grace: &grace, Open: openStore, Parallelism: 3})
		if err != nil {
			t.Fatal(err)
		}
		want := hours.Counts{Closed: 4, Late: 1, Open: 4, Missing: 1, Records: 17, Duplicates: 1, Skewed: 2, DeadLetters: 1}
		if r.Totals != want {
			t.Errorf("totals %+v, want %+v", r.Totals, want)
		}
		if r.Complete() {
			t.Error("Complete with an hour missing")
		}
		if got, w := r.Summary(), "10 hours of 2 event types: 4 closed, 1 closed late, 4 open, 1 missing (in 1 of 2 event types); 17 records, 1 duplicates, 2 skewed, 1 dead letters"; got != w {
			t.Errorf("summary %q, want %q", got, w)
		}
		et := r.EventTypes[0]
		if et.EventType != "type-000" || et.LastClosed != "2026-12-01T09:00:00Z" || et.GraceSeconds != 900 || et.Output != t0.Target.Base() {
			t.Errorf("type-000: %+v", et)
		}
		mp := func(h string) string { return t0.Target.ManifestPath(hourstest.At(h)) }
		wantHours := []hours.Hour{
			{Start: "2026-12-01T08:00:00Z", State: hours.Closed, Due: "2026-12-01T09:45:00Z", ClosedAt: "2026-12-01T09:40:00Z",
				Records: 5, Duplicates: 1, Skewed: 2, DeadLetters: 1, Manifest: mp("2026-12-01T08:00:00Z")},
			{Start: "2026-12-01T09:00:00Z", State: hours.Late, Due: "2026-12-01T10:45:00Z", ClosedAt: "2026-12-01T11:00:00Z",
				LateSeconds: 900, Records: 4, Manifest: mp("2026-12-01T09:00:00Z")},
			{Start: "2026-12-01T10:00:00Z", State: hours.Missing, Due: "2026-12-01T11:45:00Z", Manifest: mp("2026-12-01T10:00:00Z")},
			{Start: "2026-12-01T11:00:00Z", State: hours.Open, Due: "2026-12-01T12:45:00Z", Manifest: mp("2026-12-01T11:00:00Z")},
			{Start: "2026-12-01T12:00:00Z", State: hours.Open, Due: "2026-12-01T13:45:00Z", Manifest: mp("2026-12-01T12:00:00Z")},
		}
		if !reflect.DeepEqual(et.Hours, wantHours) {
			t.Errorf("type-000 hours:\n%+v\nwant\n%+v", et.Hours, wantHours)
		}
		if c := r.EventTypes[1].Counts; c != (hours.Counts{Closed: 3, Open: 2, Records: 8}) {
			t.Errorf("type-001: %+v", c)
		}

		// Without --grace, an event type's closed_hour_margin (30m by default) is the grace:
		// 09:00, closed at 11:00, is then on time; 10:00 is still missing.
		r, err = hours.Read(ctx, f, hours.Options{Now: now, Since: 4 * time.Hour, Open: openStore})
		if err != nil {
			t.Fatal(err)
		}
		if want := (hours.Counts{Closed: 5, Open: 4, Missing: 1, Records: 17, Duplicates: 1, Skewed: 2, DeadLetters: 1}); r.Totals != want {
			t.Errorf("with closed_hour_margin: totals %+v, want %+v", r.Totals, want)
		}

		// One event type whose due hours are all closed is complete.
		r, err = hours.Read(ctx, f, hours.Options{Now: now, Since: 4 * time.Hour, EventType: "type-001", Open: openStore})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.EventTypes) != 1 || !r.Complete() || r.Totals.Hours() != 5 {
			t.Errorf("type-001 alone: %d event types, complete %v, %d hours; want 1, true, 5", len(r.EventTypes), r.Complete(), r.Totals.Hours())
		}
	})
}

func TestReadErrors(t *testing.T) {
	roots(t, func(t *testing.T, f *fleet.Fleet) {
		ctx := context.Background()
		now := hourstest.When("2026-12-01T12:10:00Z")
		if _, err := hours.Read(ctx, f, hours.Options{Now: now, EventType: "nope", Open: openStore}); err == nil ||
			!strings.Contains(err.Error(), `event type "nope": not in fleet events-test`) {
			t.Errorf("unknown event type: %v", err)
		}
		tr := hourstest.New(t, f.Jobs()[1].OutputTarget())
		h := hourstest.At("2026-12-01T10:00:00Z")
		tr.Write(tr.Target.ManifestPath(h), []byte(`{"event_type": "type-001", "closed_at": "yesterday"}`))
		_, err := hours.Read(ctx, f, hours.Options{Now: now, Open: openStore})
		if err == nil || !strings.Contains(err.Error(), tr.Target.ManifestPath(h)+`: closed_at "yesterday"`) {
			t.Errorf("bad closed_at: %v, want the manifest's path and field", err)
		}
		tr.Write(tr.Target.ManifestPath(h), []byte(`{"event_type": `))
		_, err = hours.Read(ctx, f, hours.Options{Now: now, Open: openStore})
		if err == nil || !strings.Contains(err.Error(), "type-001 2026-12-01T10:00:00Z: manifest "+tr.Target.ManifestPath(h)) {
			t.Errorf("truncated manifest: %v, want the event type, hour and path", err)
		}
	})
}

// An event type's own bucket width and skew tolerance shape its buckets and their folders.
func TestReadOwnGeometry(t *testing.T) {
	roots(t, func(t *testing.T, f *fleet.Fleet) {
		f.EventTypes[1].Settings.BucketWidth, f.EventTypes[1].Settings.SkewTolerance = "15m", "5m"
		tr := hourstest.New(t, f.Jobs()[1].OutputTarget())
		q := hourstest.At("2026-12-01T11:30:00Z")
		tr.Close(q, hourstest.When("2026-12-01T11:50:00Z"), output.Manifest{}, []output.File{tr.File(q, "part-run-1-0-0.avro", 2)}, nil)
		zero := time.Duration(0)
		r, err := hours.Read(context.Background(), f, hours.Options{Now: hourstest.When("2026-12-01T12:10:00Z"), Since: time.Hour,
			EventType: "type-001", Grace: &zero, Open: openStore})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range r.EventTypes[0].Hours {
			got = append(got, h.Start[11:16]+" "+string(h.State))
		}
		// 11:00 and 11:15 are due at 11:20 and 11:35; 11:45 at 12:05; 12:00 at 12:20.
		want := []string{"11:00 missing", "11:15 missing", "11:30 closed", "11:45 missing", "12:00 open"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("15m buckets: %v, want %v", got, want)
		}
		if m := r.EventTypes[0].Hours[2].Manifest; !strings.HasSuffix(m, "/type-001/2026/12/01/11/30/_SUCCESS") &&
			!strings.HasSuffix(m, "/type-001/dt=2026-12-01/hour=11/minute=30/_SUCCESS") {
			t.Errorf("manifest path %s, want a minute level", m)
		}
	})
}
