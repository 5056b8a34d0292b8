package cmd_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/hours/hourstest"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/output"
)

// The hours commands on a fleet whose output is on fake-gcs-server, seeded around the
// wall clock's hour H (skew tolerance 30m, --grace 0): type-000 closed H-3 40m late, left
// H-2 missing and closed H-1; type-001 closed H-3 to H-1 on time.
func TestHoursCommands(t *testing.T) {
	gcsfake.Start(t, "bucket")
	path := launchertest.File(t, t.TempDir(), launchertest.Spec{EventTypes: 2})
	f := launchertest.LoadFile(t, path)
	t0, t1 := hourstest.New(t, f.Jobs()[0].OutputTarget()), hourstest.New(t, f.Jobs()[1].OutputTarget())
	l := t0.Target.Layout
	w := l.Width.Milliseconds()
	h := l.Start(time.Now().UnixMilli())
	closeTime := func(start int64, after time.Duration) time.Time {
		return time.UnixMilli(l.CloseTime(start)).Add(after)
	}
	t0.Close(h-3*w, closeTime(h-3*w, 40*time.Minute), output.Manifest{Duplicates: 2},
		[]output.File{t0.File(h-3*w, "part-run-1-0-0.avro", 5)}, nil)
	t0.File(h-2*w, "part-run-1-0-0.avro", 1)
	t0.Close(h-w, closeTime(h-w, 0), output.Manifest{}, []output.File{t0.File(h-w, "part-run-1-0-0.avro", 2)}, nil)
	for _, s := range []int64{h - 3*w, h - 2*w, h - w} {
		t1.Close(s, closeTime(s, 0), output.Manifest{}, []output.File{t1.File(s, "part-run-1-0-0.avro", 1)}, nil)
	}
	hour := func(s int64) string { return output.Format(s) }
	run := func(args ...string) run {
		return execute(context.Background(), cmd.Env{}, nil, append([]string{"-f", path}, args...)...)
	}

	t.Run("hours reports the missing and the late hour and exits 2", func(t *testing.T) {
		r := run("hours", "--since", "3h", "--grace", "0")
		if r.code != cmd.ExitChanges ||
			!strings.Contains(r.stdout, "\nmissing  type-000 "+hour(h-2*w)+": due ") ||
			!strings.Contains(r.stdout, "\nlate     type-000 "+hour(h-3*w)+": closed "+closeTime(h-3*w, 40*time.Minute).UTC().Format(time.RFC3339Nano)+", 40m0s after due\n") ||
			!strings.Contains(r.stdout, "1 closed late, ") || !strings.Contains(r.stdout, " 1 missing (in 1 of 2 event types); ") {
			t.Errorf("hours: exit %d, want 2 with the missing and the late hour\n%s%s", r.code, r.stdout, r.stderr)
		}
		if !strings.HasPrefix(r.stdout, "EVENT TYPE  CLOSED  LATE  OPEN  MISSING  RECORDS  DUPLICATES  SKEWED  DEAD LETTERS  LAST CLOSED\n") {
			t.Errorf("hours: table header:\n%s", r.stdout)
		}
	})

	t.Run("hours -o json of one complete event type", func(t *testing.T) {
		r := run("hours", "--since", "3h", "--event-type", "type-001", "-o", "json")
		var rep struct {
			Complete   bool `json:"complete"`
			EventTypes []struct {
				EventType string `json:"event_type"`
				Closed    int    `json:"closed"`
				Missing   int    `json:"missing"`
				Records   int64  `json:"records"`
				Hours     []struct {
					Start string `json:"start"`
					State string `json:"state"`
				} `json:"hours"`
			} `json:"event_types"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
			t.Fatalf("hours type-001 -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		if et := rep.EventTypes; !rep.Complete || len(et) != 1 || et[0].EventType != "type-001" || et[0].Closed != 3 || et[0].Missing != 0 ||
			et[0].Records != 3 || et[0].Hours[0].Start != hour(h-3*w) || et[0].Hours[0].State != "closed" {
			t.Errorf("hours type-001 -o json: %+v", rep)
		}
	})

	// hours wait: a closed hour at once, an open one at the timeout.
	t.Run("hours wait on a closed hour prints its manifest at once", func(t *testing.T) {
		r := run("hours", "wait", "--event-type", "type-000", "--hour", hour(h-3*w), "-o", "json")
		var m output.Manifest
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || r.code != 0 || m.Records != 5 || m.Duplicates != 2 || m.BucketStart != hour(h-3*w) {
			t.Errorf("hours wait on a closed hour: exit %d, %v, %+v\n%s", r.code, err, m, r.stderr)
		}
	})
	t.Run("hours wait on an open hour exits 2 at the timeout", func(t *testing.T) {
		r := run("hours", "wait", "--event-type", "type-000", "--hour", time.UnixMilli(h-2*w).UTC().Format("2006-01-02T15"), "--timeout", "0")
		if r.code != cmd.ExitChanges || r.stdout != "" || !strings.Contains(r.stderr, "type-000 "+hour(h-2*w)+": not closed after 0s (no "+t0.Target.ManifestPath(h-2*w)+")") {
			t.Errorf("hours wait on an open hour: %+v, want exit 2 and why", r)
		}
	})

	// hours verify: a good hour, then one with a file its manifest does not list.
	t.Run("hours verify of a good hour", func(t *testing.T) {
		r := run("hours", "verify", "--event-type", "type-001", "--hour", hour(h-2*w))
		if r.code != 0 || r.stdout != "type-001 "+hour(h-2*w)+": 1 files, 1 records, as the manifest says.\n" {
			t.Errorf("hours verify: %+v", r)
		}
	})
	extra := output.Join(t1.Target.Dir(h-2*w), "part-run-2-0-0.avro")
	t1.Write(extra, t1.Avro("part-run-2-0-0.avro", 4))
	t.Run("hours verify finds a file the manifest does not list", func(t *testing.T) {
		r := run("hours", "verify", "--event-type", "type-001", "--hour", hour(h-2*w))
		if r.code != cmd.ExitChanges || r.stdout != extra+": not listed in the manifest\ntype-001 "+hour(h-2*w)+": 1 problems.\n" {
			t.Errorf("hours verify with an unlisted file: %+v", r)
		}
	})
	t.Run("hours verify -o json on an open hour", func(t *testing.T) {
		r := run("hours", "verify", "--event-type", "type-000", "--hour", hour(h-2*w), "-o", "json")
		if r.code != cmd.ExitChanges || !strings.Contains(r.stdout, `"problem": "open: no manifest"`) || !strings.Contains(r.stdout, `"ok": false`) {
			t.Errorf("hours verify on an open hour: %+v", r)
		}
	})

	t.Run("bad flags exit 1 and say what is wrong", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"hours", "wait", "--hour", hour(h)}, "--event-type is required"},
			{[]string{"hours", "verify", "--event-type", "type-000"}, "--hour is required"},
			{[]string{"hours", "wait", "--event-type", "type-000", "--hour", output.Format(h + 60_000)}, "not the start of a 1h0m0s bucket"},
			{[]string{"hours", "verify", "--event-type", "nope", "--hour", hour(h)}, `event type "nope": not in fleet events-test`},
			{[]string{"hours", "--since", "0s"}, "--since must be positive"},
			{[]string{"hours", "wait", "--event-type", "type-000", "--hour", hour(h), "--poll", "0s"}, "--poll must be positive"},
		} {
			if r := run(tc.args...); r.code != cmd.ExitFailure || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, r.code, r.stderr, tc.want)
			}
		}
	})
}
