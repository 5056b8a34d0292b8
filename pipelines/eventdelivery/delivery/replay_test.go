package delivery

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/eventdelivery/eventdelivery/internal/testkit/outputtree"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
)

// writeReplay writes msgs as a replay file and returns its path.
func writeReplay(t testing.TB, msgs []replaygen.Message, extra ...string) string {
	t.Helper()
	var b strings.Builder
	for _, m := range msgs {
		b.Write(replay.Format(m.Message))
		b.WriteByte('\n')
	}
	for _, line := range extra {
		b.WriteString(line + "\n")
	}
	path := filepath.Join(t.TempDir(), "replay.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// expected computes, independently of the pipeline's code, where every valid message goes:
// the hour of its client time, or the hour of p − L when it is too late or too far ahead.
type expected struct {
	records map[string]map[string]bool // hour dir → event ids
	skewed  map[string]int
	invalid map[string]int // hour dir → dead letters
	dups    int
}

func expect(cfg Config, msgs []replaygen.Message) expected {
	dir := func(ms int64) string { return cfg.Layout.RelDir(cfg.Layout.Start(ms)) }
	L, F := cfg.Layout.Skew.Milliseconds(), cfg.Layout.MaxFuture.Milliseconds()
	e := expected{records: map[string]map[string]bool{}, skewed: map[string]int{}, invalid: map[string]int{}}
	type kept struct {
		p      int64
		msgID  string
		skewed bool
	}
	first := map[string]kept{} // hour dir + id → the copy the pipeline keeps
	dead := map[string]bool{}  // hour dir + message id: a redelivered one is one dead letter
	for _, m := range msgs {
		if !m.Valid {
			if key := dir(m.PublishTime) + "|" + m.ID; !dead[key] {
				dead[key] = true
				e.invalid[dir(m.PublishTime)]++
			}
			continue
		}
		t, p := m.ClientTime.UnixMilli(), m.PublishTime
		d, skewed := dir(t), false
		if t+L < p || t-p > F {
			d, skewed = dir(p-L), true
		}
		if e.records[d] == nil {
			e.records[d] = map[string]bool{}
		}
		key := d + "|" + m.EventID
		if e.records[d][m.EventID] {
			e.dups++
			if k := first[key]; p < k.p || (p == k.p && m.ID < k.msgID) {
				first[key] = kept{p, m.ID, skewed}
			}
			continue
		}
		e.records[d][m.EventID] = true
		first[key] = kept{p, m.ID, skewed}
	}
	for key, k := range first {
		if k.skewed {
			e.skewed[strings.Split(key, "|")[0]]++
		}
	}
	return e
}

func TestReplayEndToEnd(t *testing.T) {
	forLayouts(t, testReplayEndToEnd)
}

func testReplayEndToEnd(t *testing.T, cfg Config) {
	msgs, err := replaygen.Generate(replaygen.Spec{
		Start: ts("2026-11-20T07:00:00Z"), Span: 3 * time.Hour, Events: 3000,
		Retries: 0.05, Redelivers: 0.03, Skewed: 0.03, Future: 0.02, Invalid: 0.02, JSON: 0.1, Seed: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input = writeReplay(t, msgs, `{"message_id": "x", "publish_time": "yesterday"}`, `not json`)
	want := expect(cfg, msgs)
	p, s := beam.NewPipelineWithRoot()
	// One manifest per bucket comes out of the pipeline. (Counted in the pipeline: Prism may
	// report the job's metrics before the last bundle's, so buckets_closed is not asserted.)
	manifests := beam.WindowInto(s, window.NewGlobalWindows(), Build(s, cfg, nil))
	passert.Count(s, manifests, "manifests", len(want.records))
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	tree := readTree(t, cfg)
	dups := checkReplay(t, cfg, msgs, tree)
	if len(tree.Unreadable) != 2 {
		t.Errorf("unreadable lines kept: %d, want 2", len(tree.Unreadable))
	}
	counters := map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		counters[c.Key.Name] += c.Committed
	}
	if counters["duplicates"] != int64(want.dups) || counters["unreadable_replay_lines"] != 2 {
		t.Errorf("counters = %v", counters)
	}
	t.Logf("%d messages, %d buckets, %d duplicates", len(msgs), len(tree.Buckets), dups)
}

// checkReplay checks that tree holds what a replay of msgs must write: every valid event
// once, in the hour expect gives it, in a closed hour with the right counts, every invalid
// message in dead letter, in Avro files of the event type's schema. It returns the
// duplicates the manifests count.
func checkReplay(t *testing.T, cfg Config, msgs []replaygen.Message, tree *outputtree.Tree) int64 {
	t.Helper()
	want := expect(cfg, msgs)
	for _, d := range tree.Dirs() {
		b := tree.Buckets[d]
		if b.Manifest == nil {
			t.Errorf("%s: no manifest", d)
			continue
		}
		got := map[string]int{}
		for _, id := range ids(b) {
			got[id]++
		}
		for id, n := range got {
			if n != 1 || !want.records[d][id] {
				t.Errorf("%s: event %s written %d times, expected there: %v", d, id, n, want.records[d][id])
			}
		}
		if len(got) != len(want.records[d]) {
			t.Errorf("%s: %d events, want %d", d, len(got), len(want.records[d]))
		}
		if int(b.Manifest.Skewed) != want.skewed[d] || int(b.Manifest.Invalid) != want.invalid[d] {
			t.Errorf("%s: manifest skewed %d invalid %d, want %d and %d", d, b.Manifest.Skewed, b.Manifest.Invalid, want.skewed[d], want.invalid[d])
		}
		if len(tree.DeadLetters[d]) != want.invalid[d] {
			t.Errorf("%s: %d dead letters, want %d", d, len(tree.DeadLetters[d]), want.invalid[d])
		}
	}
	if len(tree.Buckets) != len(want.records) {
		t.Errorf("buckets %v, want %v", tree.Dirs(), slices.Sorted(maps.Keys(want.records)))
	}
	var dups int64
	for _, b := range tree.Buckets {
		dups += b.Manifest.Duplicates
	}
	if int(dups) != want.dups || want.dups == 0 {
		t.Errorf("duplicates %d, want %d (and some)", dups, want.dups)
	}
	// Files are Avro with the event type's schema.
	for _, b := range tree.Buckets {
		for name, schema := range b.Schemas {
			if !strings.Contains(schema, `"PlayTrack"`) {
				t.Errorf("%s/%s: schema %s", b.Dir, name, schema)
			}
		}
	}
	return dups
}

// A replay on Prism writes a shard's file whenever FileRecords events wait, so that no bucket
// is held whole: several files per shard and hour, and still every event once, with exact
// counts.
func TestReplayWritesFilesAsEventsCome(t *testing.T) {
	cfg := testConfig(t)
	cfg.FileRecords = 40
	msgs := replayMessages(t)
	cfg.Input = writeReplay(t, msgs)
	tree := replayChecked(t, cfg, msgs)
	if most := mostFilesOfAShard(t, tree.Buckets); most < 3 {
		t.Errorf("at most %d files of one shard in an hour, want 3 or more (%d events an hour and shard, %d a file)", most, len(msgs)/3/cfg.Shards, cfg.FileRecords)
	}
}

// A replay on Prism writes a bucket's on-time events (published before its end) apart from
// its late ones, so that they leave memory once the input is read past the bucket's end, not
// at its close: with panes too large to fill, each hour has a file per shard of each kind,
// every record of a late file has a copy published after the hour's end, and every record of
// an on-time file one published before it.
func TestReplayWritesOnTimeEventsAtTheBucketsEnd(t *testing.T) {
	cfg := testConfig(t)
	cfg.FileRecords = 10000
	msgs := replayMessages(t)
	cfg.Input = writeReplay(t, msgs)
	tree := replayChecked(t, cfg, msgs)
	published := map[string][]int64{} // event id → the publish times of its copies
	for _, m := range msgs {
		if m.Valid {
			published[m.EventID] = append(published[m.EventID], m.PublishTime)
		}
	}
	late := 0
	for d, b := range tree.Buckets {
		start, err := time.Parse(time.RFC3339, b.Manifest.BucketStart)
		if err != nil {
			t.Fatalf("%s: bucket_start: %v", d, err)
		}
		end := cfg.Layout.End(start.UnixMilli())
		for name, recs := range b.Files {
			_, pane, _, _ := output.ParseFileName(name)
			isLate := pane >= output.LatePane(0)
			if isLate {
				late++
			}
			for _, r := range recs {
				id := r["event_id"].(string)
				if !slices.ContainsFunc(published[id], func(p int64) bool { return (p >= end) == isLate }) {
					t.Errorf("%s/%s (late %v): event %s published at %v, none on that side of the hour's end", d, name, isLate, id, published[id])
				}
			}
		}
		if len(b.Files) > 2*cfg.Shards {
			t.Errorf("%s: %d files, want one a shard of each kind at most", d, len(b.Files))
		}
	}
	if late == 0 {
		t.Error("no late file: on-time and late events are not written apart")
	}
}

// A replay's dead letters are written as they come too, several files a shard and hour, and
// a message the archive holds twice (a redelivery: same message id and publish time, later
// in the file) is one dead letter even when its copies fall in different panes.
func TestReplayWritesDeadLettersAsTheyCome(t *testing.T) {
	cfg := testConfig(t)
	cfg.FileRecords = 5
	msgs := replayMessages(t)
	h := ts("2026-11-20T07:00:00Z").UnixMilli()
	type arrival struct {
		at int64
		m  replaygen.Message
	}
	var in []arrival
	for _, m := range msgs {
		in = append(in, arrival{m.PublishTime, m})
	}
	copies := 0
	for i := range 200 {
		bad := replaygen.Message{}
		bad.ID = fmt.Sprintf("garbage-%03d", i)
		bad.PublishTime = h + int64(i)*15_000 // 50 minutes of them in hour 07
		bad.Data, bad.Attributes = []byte("not avro at all"), map[string]string{"event_id": bad.ID}
		in = append(in, arrival{bad.PublishTime, bad})
		if i%3 == 0 { // delivered again 45s later, within the disorder a replay allows
			in = append(in, arrival{bad.PublishTime + 45_000, bad})
			copies++
		}
	}
	slices.SortStableFunc(in, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
	msgs = msgs[:0]
	for _, a := range in {
		msgs = append(msgs, a.m)
	}
	cfg.Input = writeReplay(t, msgs)
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	tree := readTree(t, cfg)
	checkReplay(t, cfg, msgs, tree)
	d := cfg.Layout.RelDir(h)
	written := map[string]int{}
	for _, r := range tree.DeadLetters[d] {
		written[r["message_id"].(string)]++
	}
	for i := range 200 {
		if id := fmt.Sprintf("garbage-%03d", i); written[id] != 1 {
			t.Errorf("%s: dead letter %s written %d times, want once", d, id, written[id])
		}
	}
	files := map[int]int{}
	for _, f := range tree.Buckets[d].Manifest.DeadLetterFiles {
		if _, _, shard, ok := output.ParseFileName(path.Base(f.Name)); ok {
			files[shard]++
		}
	}
	for shard := range cfg.Shards {
		if files[shard] < 3 {
			t.Errorf("%s: shard %d has %d dead-letter files, want several (written as they come)", d, shard, files[shard])
		}
	}
	var redelivered int64
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Name == "dead_letter_redeliveries" {
			redelivered += c.Committed
		}
	}
	if redelivered != int64(copies) {
		t.Errorf("dead_letter_redeliveries = %d, want %d", redelivered, copies)
	}
}

// A replay run again under its run id after an attempt that died before closing its hours
// replaces what that attempt left, even where its files split the events otherwise (another
// --file_records, another arrival order): each event once, and no file of the attempt
// listed or left behind.
func TestReplayRerunReplacesAnAttemptsFiles(t *testing.T) {
	cfg := testConfig(t)
	msgs := replayMessages(t)
	cfg.Input = writeReplay(t, msgs)

	attempt := cfg
	attempt.FileRecords = 30
	attempt.NowMs = ts("2026-11-20T06:00:00Z").UnixMilli() // no hour over yet: none closed
	p, s := beam.NewPipelineWithRoot()
	Build(s, attempt, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	left := readTree(t, attempt)
	for d, b := range left.Buckets {
		if b.Manifest != nil {
			t.Fatalf("%s closed by the first attempt; the test wants it left open", d)
		}
	}
	if most := mostFilesOfAShard(t, left.Buckets); most < 3 {
		t.Fatalf("the first attempt wrote at most %d files of a shard in an hour, want several", most)
	}

	cfg.FileRecords = 10000 // one file per shard and hour, of its on-time events and of its late ones
	tree := replayChecked(t, cfg, msgs)
	for d, b := range tree.Buckets {
		if b.Manifest == nil {
			continue
		}
		for _, f := range b.Manifest.Files {
			if _, pane, _, _ := output.ParseFileName(f.Name); pane != 0 && pane != output.LatePane(0) {
				t.Errorf("%s: manifest lists %s, a file of the first attempt", d, f.Name)
			}
		}
		if most := mostFilesOfAShard(t, map[string]*outputtree.Bucket{d: b}); most > 2 {
			t.Errorf("%s: %d files of one shard, want 2 at most: the first attempt's are left", d, most)
		}
	}
}

// replayChecked runs the replay of cfg (whose input holds msgs), checks its output against
// msgs and returns it.
func replayChecked(t *testing.T, cfg Config, msgs []replaygen.Message) *outputtree.Tree {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("replay: %v", err)
	}
	tree := readTree(t, cfg)
	checkReplay(t, cfg, msgs, tree)
	return tree
}

// replayMessages is a replay of 3,000 messages over three hours, with client retries,
// redeliveries, skewed clocks and invalid messages.
func replayMessages(t *testing.T) []replaygen.Message {
	t.Helper()
	msgs, err := replaygen.Generate(replaygen.Spec{
		Start: ts("2026-11-20T07:00:00Z"), Span: 3 * time.Hour, Events: 3000,
		Retries: 0.05, Redelivers: 0.03, Skewed: 0.03, Future: 0.02, Invalid: 0.02, Seed: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// mostFilesOfAShard returns the most data files one shard has in one of buckets.
func mostFilesOfAShard(t *testing.T, buckets map[string]*outputtree.Bucket) int {
	t.Helper()
	most := 0
	for _, b := range buckets {
		per := map[int]int{}
		for name := range b.Files {
			_, _, shard, ok := output.ParseFileName(name)
			if !ok {
				t.Fatalf("%s/%s: not a data file's name", b.Dir, name)
			}
			per[shard]++
			most = max(most, per[shard])
		}
	}
	return most
}

// snapshot returns every object under root, by path.
func snapshot(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A replay into an output whose hours another run closed changes none of them: every file
// and manifest of those hours stays byte for byte what it was, and no file is added to them.
func TestReplayIntoClosedHoursChangesNone(t *testing.T) {
	cfg := testConfig(t)
	msgs, err := replaygen.Generate(replaygen.Spec{Start: ts("2026-11-20T07:00:00Z"), Span: 2 * time.Hour, Events: 500, Retries: 0.05, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input, cfg.RunID = writeReplay(t, msgs), "first"
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("first replay: %v", err)
	}
	before := snapshot(t, cfg.Output)
	closed := map[string]bool{}
	for path := range before {
		if filepath.Base(path) == "_SUCCESS" {
			closed[filepath.Dir(path)] = true
		}
	}
	if len(closed) < 2 {
		t.Fatalf("the first replay closed %d hours, want 2 or more", len(closed))
	}

	cfg.RunID = "second"
	p, s = beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("second replay: %v", err)
	}
	after := snapshot(t, cfg.Output)
	for path, b := range before {
		if !closed[filepath.Dir(path)] {
			continue
		}
		if got, ok := after[path]; !ok || string(got) != string(b) {
			t.Errorf("%s changed (present %v)", path, ok)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok && closed[filepath.Dir(path)] {
			t.Errorf("%s added to a closed hour", path)
		}
	}
}
