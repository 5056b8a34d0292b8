package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
)

// fixedSchema is replaygen.Schema with one more field: the schema fix of a dead-letter
// replay, under which messages its producers had already started to send become valid.
var fixedSchema = func() string {
	var s map[string]any
	if err := json.Unmarshal([]byte(replaygen.Schema), &s); err != nil {
		panic(err)
	}
	s["fields"] = append(s["fields"].([]any), map[string]any{"name": "country", "type": "string", "default": ""})
	b, _ := json.Marshal(s)
	return string(b)
}()

// fixedEvent is a play-track message encoded with fixedSchema (attrs nil: no event id).
func fixedEvent(t *testing.T, msgID, eventID, p string) message.Message {
	c, err := goavro.NewCodec(fixedSchema)
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.BinaryFromNative(nil, map[string]any{
		"event_id": eventID, "user_id": "u1", "track_id": "t1", "ms_played": int64(1000),
		"client_time": ts(p), "platform": nil, "country": "se",
	})
	if err != nil {
		t.Fatal(err)
	}
	m := message.Message{ID: msgID, PublishTime: ts(p).UnixMilli(), Data: data}
	if eventID != "" {
		m.Attributes = map[string]string{"event_id": eventID}
	}
	return m
}

func writeLines(t *testing.T, msgs ...message.Message) string {
	t.Helper()
	var b strings.Builder
	for _, m := range msgs {
		b.Write(replay.Format(m))
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "replay.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runReplay(t *testing.T, cfg Config) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("replay of %s into %s: %v", cfg.Input, cfg.Output, err)
	}
}

// deadReasons returns the reason of every dead letter of cfg's output, by message id.
func deadReasons(t *testing.T, cfg Config) map[string]string {
	out := map[string]string{}
	for _, recs := range readTree(t, cfg).DeadLetters {
		for _, r := range recs {
			out[r["message_id"].(string)] = r["reason"].(string)
		}
	}
	return out
}

// A replay of dead-letter files after a schema fix delivers the messages the fix makes
// valid and sends the one still invalid to dead letter again, with its new reason.
func TestReplayDeadLettersAfterAFix(t *testing.T) {
	old := testConfig(t)
	old.Input = writeLines(t,
		event("m-ok", "e-ok", "2026-11-20T08:10:00Z", "2026-11-20T08:10:00Z"),
		fixedEvent(t, "m-new", "e-new", "2026-11-20T08:20:00Z"), // a newer producer: trailing bytes under the old schema
		fixedEvent(t, "m-noid", "", "2026-11-20T08:30:00Z"),     // and no event id either
	)
	runReplay(t, old)
	if got, want := deadReasons(t, old), map[string]string{"m-new": "trailing bytes: 3 after the record", "m-noid": "trailing bytes: 3 after the record"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("dead letters under the old schema %v, want %v", got, want)
	}

	fixed := testConfig(t)
	fixed.Schema = fixedSchema
	fixed.Input = filepath.Join(old.Output, "play-track", "_deadletter", "*", "*", "*", "*", output.DataFiles)
	runReplay(t, fixed)
	tree := readTree(t, fixed)
	b := tree.Buckets[dirAt(fixed, "2026-11-20T08:00:00Z")]
	if b == nil || b.Manifest == nil || !reflect.DeepEqual(ids(b), []string{"e-new"}) {
		t.Fatalf("the fixed replay's bucket %+v, want e-new alone, closed", b)
	}
	if got, want := deadReasons(t, fixed), map[string]string{"m-noid": "missing event id: attribute:event_id"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dead letters after the fix %v, want %v", got, want)
	}
}

// A backfill of [from, to) delivers the events whose bucket is in the range, exactly as a
// replay of everything does there, closes every bucket of the range, empty ones too, and
// writes nothing else; the events outside are counted.
func TestBackfillRange(t *testing.T) {
	msgs, err := replaygen.Generate(replaygen.Spec{Start: ts("2026-11-20T07:00:00Z"), Span: 2 * time.Hour, Events: 400, Invalid: 0.05, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	all := testConfig(t)
	all.Input = writeReplay(t, msgs)
	runReplay(t, all)
	whole := readTree(t, all)

	cfg := testConfig(t)
	cfg.Input = all.Input
	cfg.Range = output.Range{From: ts("2026-11-20T08:00:00Z").UnixMilli(), To: ts("2026-11-20T11:00:00Z").UnixMilli()}
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	got := readTree(t, cfg)
	want := []string{dirAt(cfg, "2026-11-20T08:00:00Z"), dirAt(cfg, "2026-11-20T09:00:00Z"), dirAt(cfg, "2026-11-20T10:00:00Z")}
	if !reflect.DeepEqual(got.Dirs(), want) {
		t.Fatalf("backfill wrote buckets %v, want %v", got.Dirs(), want)
	}
	outside := 0
	for _, d := range whole.Dirs() {
		if !slices.Contains(want, d) {
			outside += whole.Buckets[d].Records() + len(whole.DeadLetters[d])
		}
	}
	for _, d := range want {
		b, w := got.Buckets[d], whole.Buckets[d]
		var wantIDs []string
		if w != nil {
			wantIDs = ids(w)
		}
		if b.Manifest == nil || !slices.Equal(ids(b), wantIDs) || len(got.DeadLetters[d]) != len(whole.DeadLetters[d]) {
			t.Errorf("%s: closed %v, %d events, %d dead letters; the whole replay has %d, %d", d, b.Manifest != nil, len(ids(b)), len(got.DeadLetters[d]), len(wantIDs), len(whole.DeadLetters[d]))
		}
	}
	if outside == 0 {
		t.Fatal("no event outside the range: the test shows nothing")
	}
	sum := Summary(res.Metrics())
	if i := slices.Index(sum, any("outside_replay_range")); i < 0 || sum[i+1] != int64(outside) {
		t.Errorf("summary %v, want outside_replay_range %d", sum, outside)
	}
}

// A replay over hours another run has open is refused at start, naming them and the way
// out, unless asked for; hours closed by another run are no reason to refuse.
func TestReplayRefusesOpenHours(t *testing.T) {
	cfg := testConfig(t)
	cfg.Input = "unused.jsonl"
	tg := cfg.Target()
	write := func(path string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := func(s string) int64 { return ts(s).UnixMilli() }
	write(tg.FilePath(h("2026-11-20T08:00:00Z"), 0, 0))                                  // r1's own file: a rerun
	write(output.Join(tg.Dir(h("2026-11-20T09:00:00Z")), output.FileName("live", 0, 1))) // open
	write(output.Join(tg.Dir(h("2026-11-20T10:00:00Z")), output.FileName("live", 0, 1))) // closed
	body, _ := (&output.Manifest{RunID: "live"}).Marshal()
	write(tg.ManifestPath(h("2026-11-20T10:00:00Z")))
	if err := os.WriteFile(tg.ManifestPath(h("2026-11-20T10:00:00Z")), body, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		from, to string
		nowMs    int64
		allow    bool
		want     string
	}{
		{name: "range over the open hour", from: "2026-11-20T07:00:00Z", to: "2026-11-20T11:00:00Z", want: "still has 1 hour(s) open there, files but no manifest: 2026-11-20T09:00:00Z. Replay a range that leaves them out (--replay_from, --replay_to), wait until they are closed, or pass --replay_open_hours=true"},
		{name: "no range: the recent hours", nowMs: h("2026-11-20T12:00:00Z"), want: "2026-11-20T09:00:00Z"},
		{name: "range without it", from: "2026-11-20T10:00:00Z", to: "2026-11-20T11:00:00Z"},
		{name: "asked for", from: "2026-11-20T07:00:00Z", to: "2026-11-20T11:00:00Z", allow: true},
		{name: "no range, long after", nowMs: h("2026-11-25T12:00:00Z")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.ReplayOpenHours = tc.allow
			if tc.from != "" {
				c.Range = output.Range{From: h(tc.from), To: h(tc.to)}
			}
			err := c.CheckReplayHours(context.Background(), tc.nowMs)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckReplayHours = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckReplayHours = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// Asked to (ReplayOpenHours), a backfill over an hour a live job still has open adds what
// the hour lacks and closes it once its close time has passed: the manifest lists the files
// of both runs, and the hour holds each event once, exactly what one replay of everything
// gives it.
func TestBackfillOverAnOpenHour(t *testing.T) {
	msgs, err := replaygen.Generate(replaygen.Spec{Start: ts("2026-11-20T07:00:00Z"), Span: 2 * time.Hour, Events: 400, Retries: 0.05, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	hour := dirAt(testConfig(t), "2026-11-20T08:00:00Z")
	whole := testConfig(t)
	whole.Input = writeReplay(t, msgs)
	runReplay(t, whole)
	want := ids(readTree(t, whole).Buckets[hour])

	live := testConfig(t)
	var early []replaygen.Message
	for _, m := range msgs {
		if m.PublishTime < ts("2026-11-20T08:30:00Z").UnixMilli() {
			early = append(early, m)
		}
	}
	live.Input, live.RunID, live.NowMs = writeReplay(t, early), "live", ts("2026-11-20T09:10:00Z").UnixMilli()
	runReplay(t, live) // 08:00 closes at 09:30: left open, with files
	if b := readTree(t, live).Buckets[hour]; b == nil || b.Manifest != nil || len(b.Files) == 0 {
		t.Fatalf("the live run left %+v in %s, want files and no manifest", b, hour)
	}

	backfill := live
	backfill.Input, backfill.RunID, backfill.NowMs = whole.Input, "backfill", whole.NowMs
	backfill.Range = output.Range{From: ts("2026-11-20T08:00:00Z").UnixMilli(), To: ts("2026-11-20T09:00:00Z").UnixMilli()}
	if err := backfill.CheckReplayHours(context.Background(), 0); err == nil {
		t.Fatal("a backfill over the live run's open hour was not refused")
	}
	backfill.ReplayOpenHours = true
	if err := backfill.CheckReplayHours(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	runReplay(t, backfill)
	b := readTree(t, backfill).Buckets[hour]
	if b == nil || b.Manifest == nil || b.Manifest.RunID != "backfill" {
		t.Fatalf("%s after the backfill: %+v, want closed by the backfill", hour, b)
	}
	runs := map[string]bool{}
	for _, f := range b.Manifest.Files {
		run, _, _, _ := output.ParseFileName(f.Name)
		runs[run] = true
	}
	if !runs["live"] || !runs["backfill"] {
		t.Errorf("the manifest lists files of %v, want both runs", runs)
	}
	if got := ids(b); !slices.Equal(got, want) {
		t.Errorf("%s holds %d events, one replay of everything %d", hour, len(got), len(want))
	}
}

// The same messages replayed from a Pub/Sub Cloud Storage subscription's Avro archive (as
// it writes them, with metadata) and from JSON lines give the same buckets.
func TestReplayPubSubArchive(t *testing.T) {
	msgs, err := replaygen.Generate(replaygen.Spec{Start: ts("2026-11-20T07:00:00Z"), Span: 2 * time.Hour, Events: 300, Retries: 0.05, Invalid: 0.03, Seed: 13})
	if err != nil {
		t.Fatal(err)
	}
	lines := testConfig(t)
	lines.Input = writeReplay(t, msgs)
	runReplay(t, lines)

	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: replay.ArchiveSchema, CompressionName: goavro.CompressionSnappyLabel})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		attrs := map[string]any{}
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		rec := map[string]any{"subscription_name": "projects/p/subscriptions/archive", "message_id": m.ID,
			"publish_time": m.Published(), "attributes": attrs, "data": m.Data}
		if err := w.Append([]any{rec}); err != nil {
			t.Fatal(err)
		}
	}
	archive := testConfig(t)
	archive.Input = filepath.Join(t.TempDir(), "2026-11-20T07:00:00+00:00_0a1b.avro")
	if err := os.WriteFile(archive.Input, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	runReplay(t, archive)

	want, got := readTree(t, lines), readTree(t, archive)
	if !reflect.DeepEqual(got.Dirs(), want.Dirs()) || len(want.Dirs()) < 2 {
		t.Fatalf("archive replay buckets %v, JSON lines %v", got.Dirs(), want.Dirs())
	}
	for _, d := range want.Dirs() {
		g, w := got.Buckets[d], want.Buckets[d]
		if g.Manifest == nil || !slices.Equal(ids(g), ids(w)) || g.Manifest.Invalid != w.Manifest.Invalid || g.Manifest.Duplicates != w.Manifest.Duplicates {
			t.Errorf("%s: the archive replay gives %d events, %+v; JSON lines %d, %+v", d, len(ids(g)), g.Manifest, len(ids(w)), w.Manifest)
		}
	}
}
