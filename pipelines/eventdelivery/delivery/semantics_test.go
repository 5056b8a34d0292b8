package delivery

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func TestBucketChoiceAtTheEdges(t *testing.T) {
	cfg := testConfig(t)
	tree := runStream(t, cfg, stream([]message.Message{
		event("m1", "last-ms-of-hour", "2026-11-20T11:00:00Z", "2026-11-20T10:59:59.999Z"),
		event("m2", "exactly-L-late", "2026-11-20T11:00:00Z", "2026-11-20T10:30:00Z"),
		event("m3", "1ms-past-L", "2026-11-20T11:00:00Z", "2026-11-20T10:29:59.999Z"),
		event("m4", "hour-closed", "2026-11-20T11:10:00Z", "2026-11-20T09:59:00Z"),
		event("m5", "exactly-max-future", "2026-11-20T11:00:00Z", "2026-11-20T11:10:00Z"),
		event("m6", "past-max-future", "2026-11-20T11:00:00Z", "2026-11-20T11:10:00.001Z"),
		event("m7", "on-the-hour", "2026-11-20T11:00:00Z", "2026-11-20T11:00:00Z"),
	}))
	want := map[string][]string{
		"2026/11/20/10": {"1ms-past-L", "exactly-L-late", "hour-closed", "last-ms-of-hour", "past-max-future"},
		"2026/11/20/11": {"exactly-max-future", "on-the-hour"},
	}
	if got := tree.Dirs(); !reflect.DeepEqual(got, []string{"2026/11/20/10", "2026/11/20/11"}) {
		t.Fatalf("buckets = %v", got)
	}
	for dir, wantIDs := range want {
		b := tree.Buckets[dir]
		if got := ids(b); !reflect.DeepEqual(got, wantIDs) {
			t.Errorf("%s holds %v, want %v", dir, got, wantIDs)
		}
		if b.Manifest == nil {
			t.Fatalf("%s has no manifest", dir)
		}
	}
	if m := tree.Buckets["2026/11/20/10"].Manifest; m.Records != 5 || m.Skewed != 3 || m.Duplicates != 0 || m.Invalid != 0 {
		t.Errorf("manifest of 10h = %+v, want 5 records, 3 skewed", m)
	}
	if m := tree.Buckets["2026/11/20/11"].Manifest; m.Records != 2 || m.Skewed != 0 {
		t.Errorf("manifest of 11h = %+v, want 2 records, 0 skewed", m)
	}
	m := tree.Buckets["2026/11/20/10"].Manifest
	if m.EventType != "play-track" || m.BucketStart != "2026-11-20T10:00:00Z" || m.BucketEnd != "2026-11-20T11:00:00Z" || m.RunID != "r1" || m.PipelineVersion != "test" || m.ClosedAt == "" {
		t.Errorf("manifest header = %+v", m)
	}
	// The span of the records' bucket times, the skewed ones' included; the layout and the
	// format's version.
	if m.EarliestBucketTime != "2026-11-20T09:59:00Z" || m.LatestBucketTime != "2026-11-20T11:10:00.001Z" || m.Layout != "date" || m.ManifestVersion != 2 {
		t.Errorf("manifest of 10h: bucket times %s..%s, layout %q, version %d; want 09:59:00..11:10:00.001, date, 2",
			m.EarliestBucketTime, m.LatestBucketTime, m.Layout, m.ManifestVersion)
	}
}

func TestDedupeWithinAnHour(t *testing.T) {
	cfg := testConfig(t)
	tree := runStream(t, cfg,
		stream(
			[]message.Message{
				event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"),
				event("m1", "e1", "2026-11-20T10:06:00Z", "2026-11-20T10:04:00Z"), // Pub/Sub redelivery
				event("m2", "e2", "2026-11-20T10:06:00Z", "2026-11-20T10:05:00Z"),
			},
			[]message.Message{
				event("m3", "e1", "2026-11-20T10:20:00Z", "2026-11-20T10:04:00Z"), // client retry, new message id
				event("m4", "e2", "2026-11-20T11:20:00Z", "2026-11-20T11:19:00Z"), // same id, another hour
			},
		))
	if got := ids(tree.Buckets["2026/11/20/10"]); !reflect.DeepEqual(got, []string{"e1", "e2"}) {
		t.Errorf("10h holds %v, want [e1 e2]", got)
	}
	if got := ids(tree.Buckets["2026/11/20/11"]); !reflect.DeepEqual(got, []string{"e2"}) {
		t.Errorf("11h holds %v, want [e2]", got)
	}
	if m := tree.Buckets["2026/11/20/10"].Manifest; m.Duplicates != 2 || m.Records != 2 {
		t.Errorf("10h manifest: %d records, %d duplicates; want 2 and 2", m.Records, m.Duplicates)
	}
}

func TestEmptyHoursAreClosed(t *testing.T) {
	cfg := testConfig(t)
	tree := runStream(t, cfg, stream(
		[]message.Message{event("m1", "e1", "2026-11-20T08:10:00Z", "2026-11-20T08:09:00Z")},
		[]message.Message{event("m2", "e2", "2026-11-20T12:10:00Z", "2026-11-20T12:09:00Z")},
	))
	wantDirs := []string{"2026/11/20/08", "2026/11/20/09", "2026/11/20/10", "2026/11/20/11", "2026/11/20/12"}
	if got := tree.Dirs(); !reflect.DeepEqual(got, wantDirs) {
		t.Fatalf("buckets = %v, want %v", got, wantDirs)
	}
	for _, d := range wantDirs[1:4] {
		m := tree.Buckets[d].Manifest
		if m == nil || m.Records != 0 || len(m.Files) != 0 || len(tree.Buckets[d].Files) != 0 {
			t.Errorf("%s: manifest %+v, files %v; want an empty closed bucket", d, m, tree.Buckets[d].Files)
		}
	}
}

func TestInvalidMessagesGoToDeadLetter(t *testing.T) {
	forLayouts(t, testInvalidMessagesGoToDeadLetter)
}

func testInvalidMessagesGoToDeadLetter(t *testing.T, cfg Config) {
	h10, h11 := dirAt(cfg, "2026-11-20T10:00:00Z"), dirAt(cfg, "2026-11-20T11:00:00Z")
	good := event("m0", "e0", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z")
	trailing := event("m2", "e2", "2026-11-20T10:06:00Z", "2026-11-20T10:04:00Z")
	trailing.Data = append(trailing.Data, 0x00)
	noID := event("m3", "e3", "2026-11-20T10:07:00Z", "2026-11-20T10:04:00Z")
	noID.Attributes = nil
	emptyID := event("m4", "", "2026-11-20T11:07:00Z", "2026-11-20T11:04:00Z")
	otherSchema := message.Message{ID: "m5", PublishTime: ts("2026-11-20T11:08:00Z").UnixMilli(), Attributes: map[string]string{"event_id": "e5"}, Data: []byte{0x02, 0x41}}
	badJSON := event("m6", "e6", "2026-11-20T11:09:00Z", "2026-11-20T11:04:00Z")
	badJSON.Attributes["googclient_schemaencoding"] = "JSON"
	badJSON.Data = []byte(`{"event_id": "e6"}`)
	jsonOK := event("m7", "e7", "2026-11-20T11:10:00Z", "2026-11-20T11:04:00Z")
	jsonOK.Attributes["googclient_schemaencoding"] = "JSON"
	jsonOK.Data = []byte(`{"event_id": "e7", "user_id": "u", "track_id": "t", "ms_played": 5, "client_time": 1795172640000, "platform": {"string": "ios"}}`)
	tree := runStream(t, cfg, stream([]message.Message{
		good,
		{ID: "m1", PublishTime: ts("2026-11-20T10:05:30Z").UnixMilli(), Attributes: map[string]string{"event_id": "e1"}, Data: []byte("garbage")},
		trailing, noID, emptyID, otherSchema, badJSON, jsonOK,
	}))
	reasons := map[string]string{}
	for dir, recs := range tree.DeadLetters {
		for _, r := range recs {
			reasons[r["message_id"].(string)] = dir + ": " + r["reason"].(string)
		}
	}
	want := map[string]string{
		"m1": h10 + ": field event_id: negative length", // "garbage": a length of -52
		"m2": h10 + ": trailing bytes",
		"m3": h10 + ": missing event id",
		"m4": h11 + ": empty event id",
		"m5": h11 + ": field user_id: truncated", // another schema: ends after one string
		"m6": h11 + ": undecodable",
	}
	if len(reasons) != len(want) {
		t.Errorf("dead letters = %v, want %d", reasons, len(want))
	}
	for id, prefix := range want {
		if got := reasons[id]; len(got) < len(prefix) || got[:len(prefix)] != prefix {
			t.Errorf("dead letter %s = %q, want it to start with %q", id, got, prefix)
		}
	}
	if m := tree.Buckets[h10].Manifest; m.Invalid != 3 || m.Records != 1 {
		t.Errorf("10h manifest: invalid %d records %d, want 3 and 1", m.Invalid, m.Records)
	}
	if m := tree.Buckets[h11].Manifest; m.Invalid != 3 || m.Records != 1 {
		t.Errorf("11h manifest: invalid %d records %d, want 3 and 1", m.Invalid, m.Records)
	}
	// The dead letter keeps the raw bytes and attributes.
	for _, r := range tree.DeadLetters[h10] {
		if r["message_id"] == "m2" && !bytes.Equal(r["data"].([]byte), trailing.Data) {
			t.Errorf("dead letter m2 data = %x, want the message's bytes %x", r["data"], trailing.Data)
		}
	}
	// Records are written exactly as published, JSON ones in binary.
	if got := ids(tree.Buckets[h11]); !reflect.DeepEqual(got, []string{"e7"}) {
		t.Errorf("11h holds %v, want [e7]", got)
	}
}

func TestWallClockKeepsUnfinishedHoursOpen(t *testing.T) {
	cfg := testConfig(t)
	cfg.NowMs = ts("2026-11-20T11:45:00Z").UnixMilli() // 10h closes at 11:30, 11h at 12:30
	tree := runStream(t, cfg, stream([]message.Message{
		event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"),
		event("m2", "e2", "2026-11-20T11:05:00Z", "2026-11-20T11:04:00Z"),
	}))
	if tree.Buckets["2026/11/20/10"].Manifest == nil {
		t.Errorf("10h has no manifest; its close time 11:30 has passed")
	}
	b := tree.Buckets["2026/11/20/11"]
	if b.Manifest != nil {
		t.Errorf("11h has a manifest although its close time 12:30 is still ahead")
	}
	if got := ids(b); !reflect.DeepEqual(got, []string{"e2"}) {
		t.Errorf("11h holds %v, want its file with [e2]", got)
	}
}

func TestClosedHoursNeverChange(t *testing.T) {
	cfg := testConfig(t)
	first := []message.Message{
		event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"),
		event("m2", "e2", "2026-11-20T10:06:00Z", "2026-11-20T10:05:00Z"),
		{ID: "bad", PublishTime: ts("2026-11-20T10:07:00Z").UnixMilli(), Data: []byte("x")},
	}
	before := runStream(t, cfg, stream(first))

	t.Run("rerun with the same run id changes nothing", func(t *testing.T) {
		after := runStream(t, cfg, stream(first))
		if !reflect.DeepEqual(before.Objects, after.Objects) {
			t.Errorf("objects changed: before %v, after %v", slices.Sorted(maps.Keys(before.Objects)), slices.Sorted(maps.Keys(after.Objects)))
		}
	})
	t.Run("another job moves data for a closed hour to the next open one, and writes no copy of what it holds", func(t *testing.T) {
		cfg2 := cfg
		cfg2.RunID = "r2"
		after := runStream(t, cfg2, stream([]message.Message{
			event("m3", "e3", "2026-11-20T10:08:00Z", "2026-11-20T10:07:00Z"),
			event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"),
		}))
		for name, data := range before.Objects {
			if !bytes.Equal(after.Objects[name], data) {
				t.Errorf("%s changed", name)
			}
		}
		if got := ids(after.Buckets["2026/11/20/10"]); !reflect.DeepEqual(got, []string{"e1", "e2"}) {
			t.Errorf("closed 10h now holds %v", got)
		}
		b := after.Buckets["2026/11/20/11"]
		if b == nil || b.Manifest == nil {
			t.Fatalf("11h was not written and closed: %v", after.Dirs())
		}
		// e1 is in closed 10h already: its redelivery is a duplicate, not a second record.
		if got := ids(b); !reflect.DeepEqual(got, []string{"e3"}) || b.Manifest.Skewed != 1 || b.Manifest.Duplicates != 1 {
			t.Errorf("11h holds %v with %d skewed, %d duplicates; want [e3], 1 skewed, 1 duplicate (e1)", got, b.Manifest.Skewed, b.Manifest.Duplicates)
		}
	})
}

func TestNextJobClosesWhatThePreviousLeftOpen(t *testing.T) {
	cfg := testConfig(t)
	cfg.NowMs = ts("2026-11-20T10:40:00Z").UnixMilli() // 10h is not over yet
	runStream(t, cfg, stream([]message.Message{event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z")}))
	cfg2 := cfg
	cfg2.RunID, cfg2.NowMs = "r2", ts("2026-11-20T12:00:00Z").UnixMilli()
	tree := runStream(t, cfg2, stream([]message.Message{event("m2", "e2", "2026-11-20T10:35:00Z", "2026-11-20T10:34:00Z")}))
	b := tree.Buckets["2026/11/20/10"]
	if b.Manifest == nil {
		t.Fatalf("10h still open")
	}
	if got := ids(b); !reflect.DeepEqual(got, []string{"e1", "e2"}) || b.Manifest.Records != 2 || len(b.Manifest.Files) != 2 {
		t.Errorf("10h holds %v, manifest %+v; want both runs' files", got, b.Manifest)
	}
}

// TestHandoverManifestCountsBothRuns: the manifest of a bucket closed by a successor counts
// what its predecessor wrote there too: records, duplicates, skewed events and dead letters.
func TestHandoverManifestCountsBothRuns(t *testing.T) {
	cfg := testConfig(t)
	cfg.NowMs = ts("2026-11-20T10:40:00Z").UnixMilli() // 10h is not over yet
	runStream(t, cfg, stream([]message.Message{
		event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"),
		event("m1b", "e1", "2026-11-20T10:06:00Z", "2026-11-20T10:04:00Z"), // client retry
		event("m3", "e3", "2026-11-20T10:35:00Z", "2026-11-20T09:00:00Z"),  // skewed into 10h
		{ID: "bad", PublishTime: ts("2026-11-20T10:36:00Z").UnixMilli(), Data: []byte("x")},
	}))
	cfg2 := cfg
	cfg2.RunID, cfg2.NowMs = "r2", ts("2026-11-20T12:00:00Z").UnixMilli()
	tree := runStream(t, cfg2, stream([]message.Message{
		event("m2", "e2", "2026-11-20T10:37:00Z", "2026-11-20T10:34:00Z"),
		event("m2b", "e2", "2026-11-20T10:38:00Z", "2026-11-20T10:34:00Z"), // client retry
	}))
	b := tree.Buckets["2026/11/20/10"]
	if b.Manifest == nil {
		t.Fatalf("10h still open")
	}
	m := b.Manifest
	if got := ids(b); !reflect.DeepEqual(got, []string{"e1", "e2", "e3"}) || m.RunID != "r2" {
		t.Errorf("10h holds %v, closed by %s; want [e1 e2 e3] closed by r2", got, m.RunID)
	}
	if m.Records != 3 || m.Duplicates != 2 || m.Skewed != 1 || m.Invalid != 1 || len(m.DeadLetterFiles) != 1 {
		t.Errorf("manifest counts %d records, %d duplicates, %d skewed, %d invalid, dead-letter files %v; want 3, 2, 1, 1 and one file",
			m.Records, m.Duplicates, m.Skewed, m.Invalid, m.DeadLetterFiles)
	}
	// The predecessor's bucket times come from its files' headers (e3's 09:00 is its own).
	if m.EarliestBucketTime != "2026-11-20T09:00:00Z" || m.LatestBucketTime != "2026-11-20T10:34:00Z" {
		t.Errorf("bucket times %s..%s, want 09:00 (the predecessor's e3)..10:34", m.EarliestBucketTime, m.LatestBucketTime)
	}
}

func TestSubMinuteBuckets(t *testing.T) {
	forLayouts(t, testSubMinuteBuckets)
}

func testSubMinuteBuckets(t *testing.T, cfg Config) {
	cfg.Layout.Width, cfg.Layout.Skew, cfg.Layout.MaxFuture = 10*time.Second, 5*time.Second, 2*time.Second
	tree := runStream(t, cfg, stream([]message.Message{
		event("m1", "e1", "2026-11-20T10:00:01Z", "2026-11-20T10:00:00.500Z"),
		event("m2", "e2", "2026-11-20T10:00:12Z", "2026-11-20T10:00:09.999Z"), // 2.001s late: within L
		event("m3", "e3", "2026-11-20T10:00:17Z", "2026-11-20T10:00:09Z"),     // 8s late: skewed to 10:00:10
		event("m4", "e4", "2026-11-20T10:00:41Z", "2026-11-20T10:00:40Z"),
	}))
	want := map[string][]string{
		dirAt(cfg, "2026-11-20T10:00:00Z"): {"e1", "e2"},
		dirAt(cfg, "2026-11-20T10:00:10Z"): {"e3"},
		dirAt(cfg, "2026-11-20T10:00:20Z"): nil,
		dirAt(cfg, "2026-11-20T10:00:30Z"): nil,
		dirAt(cfg, "2026-11-20T10:00:40Z"): {"e4"},
	}
	if len(tree.Buckets) != len(want) {
		t.Fatalf("buckets = %v", tree.Dirs())
	}
	for dir, wantIDs := range want {
		b := tree.Buckets[dir]
		if b == nil || b.Manifest == nil {
			t.Fatalf("%s: missing or open", dir)
		}
		if got := ids(b); !reflect.DeepEqual(got, wantIDs) {
			t.Errorf("%s holds %v, want %v", dir, got, wantIDs)
		}
		if b.Manifest.BucketEnd != ts(b.Manifest.BucketStart).Add(10*time.Second).Format(time.RFC3339) {
			t.Errorf("%s: bucket %s..%s", dir, b.Manifest.BucketStart, b.Manifest.BucketEnd)
		}
	}
	if tree.Buckets[dirAt(cfg, "2026-11-20T10:00:10Z")].Manifest.Skewed != 1 {
		t.Errorf("10:00:10 skewed = %d, want 1", tree.Buckets[dirAt(cfg, "2026-11-20T10:00:10Z")].Manifest.Skewed)
	}
}

// TestRedeliveryBehindTheWatermark: a source stamps a redelivered message with a time after
// its bucket closed (its publish time is older than the watermark). It must not become late
// data, which would be dropped: it goes to the oldest bucket still open, counted as skewed.
func TestRedeliveryBehindTheWatermark(t *testing.T) {
	cfg := testConfig(t)
	c := teststream.NewConfig()
	c.AddElements(ts("2026-11-20T10:05:00Z").UnixMilli(), event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"))
	c.AdvanceWatermark(ts("2026-11-20T11:40:00Z").UnixMilli()) // 10h closes at 11:30
	c.AddElements(ts("2026-11-20T11:45:00Z").UnixMilli(), event("m2", "e2", "2026-11-20T10:06:00Z", "2026-11-20T10:05:00Z"))
	c.AdvanceWatermark(ts("2026-11-20T11:50:00Z").UnixMilli())
	c.AdvanceWatermarkToInfinity()
	tree := runStream(t, cfg, c)
	if got := ids(tree.Buckets["2026/11/20/10"]); !reflect.DeepEqual(got, []string{"e1"}) {
		t.Errorf("10h holds %v, want [e1]", got)
	}
	b := tree.Buckets["2026/11/20/11"]
	if b == nil || b.Manifest == nil {
		t.Fatalf("the redelivered event was lost: buckets %v", tree.Dirs())
	}
	if got := ids(b); !reflect.DeepEqual(got, []string{"e2"}) || b.Manifest.Skewed != 1 {
		t.Errorf("11h holds %v with %d skewed, want [e2] skewed", got, b.Manifest.Skewed)
	}
}

// TestLookbackClosesWhatThePreviousJobLeftOpen: a job replaced mid-hour leaves its hour open;
// its successor has no event for that hour, yet closes it, listing the old job's files.
func TestLookbackClosesWhatThePreviousJobLeftOpen(t *testing.T) {
	cfg := testConfig(t)
	cfg.NowMs = ts("2026-11-20T10:40:00Z").UnixMilli() // drained at 10:40: 10h is not over
	runStream(t, cfg, stream([]message.Message{event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z")}))
	cfg2 := cfg
	cfg2.RunID, cfg2.NowMs, cfg2.Lookback = "r2", ts("2026-11-20T12:40:00Z").UnixMilli(), 48*time.Hour
	tree := runStream(t, cfg2, stream([]message.Message{event("m2", "e2", "2026-11-20T12:01:00Z", "2026-11-20T12:00:00Z")}))
	b := tree.Buckets["2026/11/20/10"]
	if b == nil || b.Manifest == nil {
		t.Fatalf("10h left open: %v", tree.Dirs())
	}
	if got := ids(b); !reflect.DeepEqual(got, []string{"e1"}) || b.Manifest.RunID != "r2" || len(b.Manifest.Files) != 1 {
		t.Errorf("10h holds %v, manifest %+v; want the old job's file, closed by r2", got, b.Manifest)
	}
	if m := tree.Buckets["2026/11/20/11"].Manifest; m == nil || m.Records != 0 {
		t.Errorf("11h between them is not closed empty: %+v", m)
	}
}

// TestEarlyPanes: with early panes a bucket is written as it fills, one pane per firing, and
// dedupe holds across panes: a copy in a later pane of an id an earlier pane wrote is
// dropped. The processing time is advanced past the delay after each batch, so that no
// firing is pending when the window closes (Prism crashes otherwise).
func TestEarlyPanes(t *testing.T) {
	cfg := testConfig(t)
	cfg.EarlyPanes = time.Minute
	cfg.Runner = "dataflow" // early panes are Dataflow's (on Prism a live job writes by count)
	c := teststream.NewConfig()
	c.AddElements(ts("2026-11-20T10:05:00Z").UnixMilli(),
		event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"),
		event("m2", "e2", "2026-11-20T10:05:00Z", "2026-11-20T10:04:30Z"))
	c.AdvanceWatermark(ts("2026-11-20T10:06:00Z").UnixMilli())
	c.AdvanceProcessingTime(2 * time.Minute.Milliseconds())
	c.AddElements(ts("2026-11-20T10:20:00Z").UnixMilli(),
		event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z"), // Pub/Sub redelivery
		event("m3", "e3", "2026-11-20T10:20:00Z", "2026-11-20T10:19:00Z"))
	c.AdvanceWatermark(ts("2026-11-20T10:21:00Z").UnixMilli())
	c.AdvanceProcessingTime(2 * time.Minute.Milliseconds())
	c.AdvanceWatermarkToInfinity()
	tree := runStream(t, cfg, c)
	b := tree.Buckets["2026/11/20/10"]
	if b == nil || b.Manifest == nil {
		t.Fatalf("10h not closed: %v", tree.Dirs())
	}
	if got := ids(b); !reflect.DeepEqual(got, []string{"e1", "e2", "e3"}) || b.Manifest.Records != 3 || b.Manifest.Duplicates != 1 {
		t.Errorf("10h holds %v, manifest %d records, %d duplicates; want [e1 e2 e3], 3 and 1", got, b.Manifest.Records, b.Manifest.Duplicates)
	}
	panes := map[string]bool{}
	for name := range b.Files {
		panes[strings.Split(name, "-")[2]] = true // part-<run>-<pane>-<shard>.avro
	}
	if !reflect.DeepEqual(panes, map[string]bool{"0": true, "1": true}) {
		t.Errorf("files %v: want files of panes 0 and 1", slices.Sorted(maps.Keys(b.Files)))
	}
}
