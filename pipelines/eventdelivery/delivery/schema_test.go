package delivery

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
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

	schemacodec "github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/internal/testkit/hostile"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/internal/testkit/schemaservice"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// exampleRevision returns revision r of the example event type PlayEvent
// (internal/codec/testdata/revisions): r2 adds the enum symbol WEB to r1; r3 promotes
// ms_played from int to long, removes legacy_device and adds country and tags with
// defaults.
func exampleRevision(t testing.TB, r string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "internal", "codec", "testdata", "revisions", r+".avsc"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// revMessage is one message of the example event type: published with writer schema
// revision rev (named by its id; none when id is empty), in Avro binary or JSON.
type revMessage struct {
	id     string         // googclient_schemarevisionid; "" for none (read with the reader schema)
	schema string         // the writer schema
	json   bool           // googclient_schemaencoding JSON
	rec    map[string]any // the record, goavro's native form of the writer schema
	data   []byte         // the payload as it is, when rec is nil (a broken one)
}

// message returns m as Pub/Sub delivers it, published at p.
func (m revMessage) message(t testing.TB, msgID string, p time.Time) message.Message {
	t.Helper()
	data := m.data
	if m.rec != nil {
		c, err := goavro.NewCodec(m.schema)
		if err != nil {
			t.Fatal(err)
		}
		if m.json {
			data, err = c.TextualFromNative(nil, m.rec)
		} else {
			data, err = c.BinaryFromNative(nil, m.rec)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	attrs := map[string]string{}
	if m.id != "" {
		attrs["googclient_schemaname"] = "projects/p/schemas/play-event"
		attrs[schemacodec.RevisionAttribute] = m.id
		attrs[schemacodec.EncodingAttribute] = "BINARY"
	}
	if m.json {
		attrs[schemacodec.EncodingAttribute] = "JSON"
	}
	return message.Message{ID: msgID, PublishTime: p.UnixMilli(), Attributes: attrs, Data: data}
}

// replayOf writes msgs, published from start every step in the order given, as a replay
// file and returns its path.
func replayOf(t testing.TB, start time.Time, step time.Duration, msgs []revMessage) string {
	t.Helper()
	var out []replaygen.Message
	for i, m := range msgs {
		out = append(out, replaygen.Message{Message: m.message(t, fmt.Sprintf("m%03d", i), start.Add(time.Duration(i)*step))})
	}
	return writeReplay(t, out)
}

func fingerprint(t testing.TB, schema string) string {
	t.Helper()
	fp, err := schemacodec.Fingerprint(schema)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// TestSchemaRevisionsEndToEnd reads the example event type's schema from pstest's schema
// service (--schema projects/p/schemas/play-event: four revisions, the newest, r3, the
// reader) and replays one hour that mixes messages of r1, r2 and r3, binary and JSON,
// messages published without a schema, and bad ones: an unknown revision, a revision the
// reader cannot read (r0, whose ms_played is a string) and bytes that do not decode with
// their revision. Every record is read back in the reader schema with the values and
// defaults Avro's resolution gives; every bad message is a dead letter with its reason;
// the manifest counts the records per revision and the bucket has one file per shard, as
// an hour of one revision has.
func TestSchemaRevisionsEndToEnd(t *testing.T) {
	r0 := strings.Replace(exampleRevision(t, "r1"), `"name": "ms_played", "type": "int"`, `"name": "ms_played", "type": "string"`, 1)
	r1, r2, r3 := exampleRevision(t, "r1"), exampleRevision(t, "r2"), exampleRevision(t, "r3")
	srv := schemaservice.Start(t)
	ids := schemaservice.Commit(t, srv, "projects/p/schemas/play-event", r0, r1, r2, r3)
	id0, id1, id2, id3 := ids[0], ids[1], ids[2], ids[3]

	var msgs []revMessage
	want := map[string]map[string]any{} // event id → the record in the reader schema
	for _, json := range []bool{false, true} {
		enc := map[bool]string{false: "bin", true: "json"}[json]
		for i := range 5 {
			id, platform := fmt.Sprintf("r1-%s-%d", enc, i), []string{"IOS", "ANDROID"}[i%2]
			msgs = append(msgs, revMessage{id: id1, schema: r1, json: json, rec: map[string]any{"event_id": id, "ms_played": int32(100 + i), "platform": platform, "legacy_device": "nexus"}})
			want[id] = map[string]any{"event_id": id, "ms_played": int64(100 + i), "platform": platform, "country": "unknown", "tags": nil}
		}
		for i := range 4 {
			id := fmt.Sprintf("r2-%s-%d", enc, i)
			msgs = append(msgs, revMessage{id: id2, schema: r2, json: json, rec: map[string]any{"event_id": id, "ms_played": int32(-i), "platform": "WEB", "legacy_device": "x"}})
			want[id] = map[string]any{"event_id": id, "ms_played": int64(-i), "platform": "WEB", "country": "unknown", "tags": nil}
		}
		for i := range 3 {
			id := fmt.Sprintf("r3-%s-%d", enc, i)
			msgs = append(msgs, revMessage{id: id3, schema: r3, json: json, rec: map[string]any{"event_id": id, "ms_played": int64(1)<<40 + int64(i), "platform": "IOS", "country": "SE", "tags": goavro.Union("array", []any{"a", enc})}})
			want[id] = map[string]any{"event_id": id, "ms_played": int64(1)<<40 + int64(i), "platform": "IOS", "country": "SE", "tags": map[string]any{"array": []any{"a", enc}}}
		}
		for i := range 2 {
			id := fmt.Sprintf("none-%s-%d", enc, i)
			msgs = append(msgs, revMessage{schema: r3, json: json, rec: map[string]any{"event_id": id, "ms_played": int64(i), "platform": "ANDROID", "country": "NO", "tags": nil}})
			want[id] = map[string]any{"event_id": id, "ms_played": int64(i), "platform": "ANDROID", "country": "NO", "tags": nil}
		}
	}
	v1 := map[string]any{"event_id": "bad", "ms_played": int32(1), "platform": "IOS", "legacy_device": "nexus"}
	bad := []revMessage{
		{id: "deadbeef", schema: r1, rec: v1},
		{id: "deadbeef", schema: r1, json: true, rec: v1},
		{id: id0, schema: r0, rec: map[string]any{"event_id": "bad", "ms_played": "7", "platform": "IOS", "legacy_device": "nexus"}},
		{id: id1, schema: r1, data: []byte{6, 'b', 'a', 'd'}},
		{id: id2, schema: r2, json: true, data: []byte(`{"event_id": "bad", "ms_played": 1`)},
	}
	// Mixed within the hour: the bad ones among the good, every revision among the others.
	r := rand.New(rand.NewPCG(15, 51))
	msgs = append(msgs, bad...)
	r.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })

	fs := flag.NewFlagSet("eventdelivery", flag.ContinueOnError)
	f := RegisterFlags(fs)
	input, out := replayOf(t, ts("2026-11-20T07:00:10Z"), 50*time.Second, msgs), t.TempDir()
	if err := fs.Parse([]string{"--event_type=play-event", "--schema=projects/p/schemas/play-event", "--input=" + input, "--output=" + out,
		"--event_id=field:event_id", "--bucket_time=publish_time", "--shards=2", "--run_id=r1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Schema != r3 || len(cfg.Revisions) != 4 {
		t.Fatalf("--schema read reader %.40q and %d revisions, want r3 and 4", cfg.Schema, len(cfg.Revisions))
	}
	cfg.Version, cfg.NowMs = "test", ts("2030-01-01T00:00:00Z").UnixMilli()
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	tree := readTree(t, cfg) // and outputtree.Check: records_by_revision held to the files' headers

	hour := dirAt(cfg, "2026-11-20T07:00:00Z")
	if got := tree.Dirs(); !slices.Equal(got, []string{hour}) {
		t.Fatalf("buckets %v, want %s alone", got, hour)
	}
	b := tree.Buckets[hour]
	if b.Manifest == nil {
		t.Fatalf("%s: not closed", hour)
	}
	got := map[string]map[string]any{}
	for name, recs := range b.Files {
		if b.Schemas[name] != r3 {
			t.Errorf("%s: written with schema %.60q, want the reader schema r3", name, b.Schemas[name])
		}
		byEventID(got, recs)
	}
	checkRecords(t, "read back", got, want)
	// Mixing revisions does not multiply files: one per shard, as an hour of one revision.
	if len(b.Files) != cfg.Shards || len(b.Manifest.Files) != cfg.Shards {
		t.Errorf("%d files (%d in the manifest), want one per shard: %d", len(b.Files), len(b.Manifest.Files), cfg.Shards)
	}
	wantRevs := map[string]int64{id1: 10, id2: 8, id3: 6, output.NoRevision: 4}
	if !maps.Equal(b.Manifest.RecordsByRevision, wantRevs) || b.Manifest.Records != 28 {
		t.Errorf("manifest: %d records by revision %v, want 28 by %v", b.Manifest.Records, b.Manifest.RecordsByRevision, wantRevs)
	}
	fp := fingerprint(t, r3)
	if b.Manifest.SchemaFingerprint != fp {
		t.Errorf("manifest schema_fingerprint %s, want r3's %s", b.Manifest.SchemaFingerprint, fp)
	}
	for _, file := range b.Manifest.Files {
		if file.SchemaFingerprint != fp {
			t.Errorf("%s: schema_fingerprint %s, want r3's %s", file.Name, file.SchemaFingerprint, fp)
		}
	}

	reasons := map[string]string{} // message id → reason
	for _, d := range tree.DeadLetters[hour] {
		reasons[d["message_id"].(string)] = d["reason"].(string)
	}
	wantReasons := map[string]string{}
	for i, m := range msgs {
		var reason string
		switch {
		case m.id == "deadbeef":
			reason = `unknown schema revision "deadbeef" (googclient_schemarevisionid): not one of the 4 revisions known`
		case m.id == id0:
			reason = fmt.Sprintf(`schema revision %q cannot be read as the reader schema: field ms_played: reader schema long not compatible with writer schema string`, id0)
		case m.id == id1 && m.rec == nil:
			reason = fmt.Sprintf(`schema revision %q: field ms_played: truncated`, id1)
		case m.id == id2 && m.rec == nil:
			reason = fmt.Sprintf(`schema revision %q: undecodable: cannot decode textual record "example.PlayEvent": short buffer`, id2)
		default:
			continue
		}
		wantReasons[fmt.Sprintf("m%03d", i)] = reason
	}
	if !maps.Equal(reasons, wantReasons) {
		t.Errorf("dead letters:\n%v\nwant\n%v", reasons, wantReasons)
	}
	if b.Manifest.Invalid != int64(len(bad)) {
		t.Errorf("manifest invalid %d, want %d", b.Manifest.Invalid, len(bad))
	}
}

// TestSchemaChangeMidHour updates the reader schema during an hour: a first run (reader r2,
// writers r1 and r2) writes the hour's first half and stops before the hour is over, so it
// leaves the hour open; the run that replaces it (reader r3, writers r1 to r3) writes the
// second half and closes the hour. Nothing is rewritten: the manifest lists the first run's
// files with r2's fingerprint and the second's with r3's, its own fingerprint is r3's, its
// records by revision count both runs' files, and Apache Avro's own reader reads every file
// of the hour with r3 as its reader schema, by resolution, with the values and defaults
// each record should have.
func TestSchemaChangeMidHour(t *testing.T) {
	py := hostile.Python(t)
	r1, r2, r3 := exampleRevision(t, "r1"), exampleRevision(t, "r2"), exampleRevision(t, "r3")
	cfg := testConfig(t)
	cfg.EventType = "play-event"
	cfg.EventID, cfg.BucketTime = schemacodec.Source{Kind: schemacodec.Field, Name: "event_id"}, schemacodec.Source{Kind: schemacodec.PublishTime}
	want := map[string]map[string]any{} // event id → the record as Apache Avro reads it with r3 (JSON)

	var first []revMessage
	for i := range 3 {
		id := fmt.Sprintf("before-r1-%d", i)
		first = append(first, revMessage{id: "r1", schema: r1, rec: map[string]any{"event_id": id, "ms_played": int32(i), "platform": "ANDROID", "legacy_device": "nexus"}})
		want[id] = map[string]any{"event_id": id, "ms_played": float64(i), "platform": "ANDROID", "country": "unknown", "tags": nil}
		id = fmt.Sprintf("before-r2-%d", i)
		first = append(first, revMessage{id: "r2", schema: r2, json: true, rec: map[string]any{"event_id": id, "ms_played": int32(10 + i), "platform": "WEB", "legacy_device": "x"}})
		want[id] = map[string]any{"event_id": id, "ms_played": float64(10 + i), "platform": "WEB", "country": "unknown", "tags": nil}
	}
	for i := range 2 {
		id := fmt.Sprintf("before-none-%d", i)
		first = append(first, revMessage{schema: r2, rec: map[string]any{"event_id": id, "ms_played": int32(20 + i), "platform": "IOS", "legacy_device": "y"}})
		want[id] = map[string]any{"event_id": id, "ms_played": float64(20 + i), "platform": "IOS", "country": "unknown", "tags": nil}
	}
	cfg.Schema, cfg.Revisions = r2, map[string]string{"r1": r1, "r2": r2}
	cfg.RunID, cfg.NowMs = "before", ts("2026-11-20T07:40:00Z").UnixMilli()
	cfg.Input = replayOf(t, ts("2026-11-20T07:00:00Z"), time.Minute, first)
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("first run: %v", err)
	}
	hour := dirAt(cfg, "2026-11-20T07:00:00Z")
	if b := readTree(t, cfg).Buckets[hour]; b == nil || b.Manifest != nil || b.Records() != len(first) {
		t.Fatalf("after the first run %s is %+v, want open with %d records", hour, b, len(first))
	}

	var second []revMessage
	for i := range 2 {
		id := fmt.Sprintf("after-r1-%d", i)
		second = append(second, revMessage{id: "r1", schema: r1, json: true, rec: map[string]any{"event_id": id, "ms_played": int32(30 + i), "platform": "IOS", "legacy_device": "z"}})
		want[id] = map[string]any{"event_id": id, "ms_played": float64(30 + i), "platform": "IOS", "country": "unknown", "tags": nil}
		id = fmt.Sprintf("after-r2-%d", i)
		second = append(second, revMessage{id: "r2", schema: r2, rec: map[string]any{"event_id": id, "ms_played": int32(40 + i), "platform": "WEB", "legacy_device": "z"}})
		want[id] = map[string]any{"event_id": id, "ms_played": float64(40 + i), "platform": "WEB", "country": "unknown", "tags": nil}
	}
	for i := range 3 {
		id := fmt.Sprintf("after-r3-%d", i)
		second = append(second, revMessage{id: "r3", schema: r3, rec: map[string]any{"event_id": id, "ms_played": int64(1)<<40 + int64(i), "platform": "WEB", "country": "SE", "tags": goavro.Union("array", []any{"t"})}})
		want[id] = map[string]any{"event_id": id, "ms_played": float64(int64(1)<<40 + int64(i)), "platform": "WEB", "country": "SE", "tags": []any{"t"}}
	}
	id := "after-none-0"
	second = append(second, revMessage{schema: r3, rec: map[string]any{"event_id": id, "ms_played": int64(50), "platform": "ANDROID", "country": "FI", "tags": nil}})
	want[id] = map[string]any{"event_id": id, "ms_played": float64(50), "platform": "ANDROID", "country": "FI", "tags": nil}
	cfg.Schema, cfg.Revisions = r3, map[string]string{"r1": r1, "r2": r2, "r3": r3}
	cfg.RunID, cfg.NowMs = "after", ts("2030-01-01T00:00:00Z").UnixMilli()
	cfg.Input = replayOf(t, ts("2026-11-20T07:31:00Z"), 3*time.Minute, second)
	p, s = beam.NewPipelineWithRoot()
	Build(s, cfg, nil)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("second run: %v", err)
	}
	tree := readTree(t, cfg)
	b := tree.Buckets[hour]
	if b == nil || b.Manifest == nil {
		t.Fatalf("%s not closed by the second run", hour)
	}
	m := b.Manifest
	fp2, fp3 := fingerprint(t, r2), fingerprint(t, r3)
	if m.SchemaFingerprint != fp3 {
		t.Errorf("manifest schema_fingerprint %s, want r3's %s", m.SchemaFingerprint, fp3)
	}
	runs := map[string]int{}
	var paths []string
	for _, file := range m.Files {
		run := strings.Split(file.Name, "-")[1] // part-<run>-<pane>-<shard>.avro
		runs[run]++
		if wantFP := map[string]string{"before": fp2, "after": fp3}[run]; file.SchemaFingerprint != wantFP {
			t.Errorf("%s: schema_fingerprint %s, want %s's %s", file.Name, file.SchemaFingerprint, map[string]string{fp2: "r2", fp3: "r3"}[wantFP], wantFP)
		}
		paths = append(paths, filepath.Join(cfg.Output, cfg.EventType, hour, file.Name))
	}
	if len(runs) != 2 || runs["before"] < 1 || runs["before"] > cfg.Shards || runs["after"] < 1 || runs["after"] > cfg.Shards {
		t.Errorf("files by run %v, want 1 to %d of each", runs, cfg.Shards)
	}
	wantRevs := map[string]int64{"r1": 5, "r2": 5, "r3": 3, output.NoRevision: 3}
	if !maps.Equal(m.RecordsByRevision, wantRevs) || m.Records != int64(len(want)) {
		t.Errorf("manifest: %d records by revision %v, want %d by %v", m.Records, m.RecordsByRevision, len(want), wantRevs)
	}
	files, err := hostile.ReadAs(py, r3, paths...)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, recs := range files {
		byEventID(got, recs)
	}
	checkRecords(t, "read with r3", got, want)
	// And the first run's files still hold what they were written with: r2, legacy_device
	// and all.
	for name, schema := range b.Schemas {
		if strings.HasPrefix(name, "part-before-") != (schema == r2) {
			t.Errorf("%s: written with %.60q", name, schema)
		}
	}
}

// byEventID adds records to got by their event_id.
func byEventID(got map[string]map[string]any, records []map[string]any) {
	for _, rec := range records {
		got[rec["event_id"].(string)] = rec
	}
}

// checkRecords compares the records got (by event id), read back as how says, with want.
func checkRecords(t *testing.T, how string, got, want map[string]map[string]any) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for id := range want {
		if !reflect.DeepEqual(got[id], want[id]) {
			t.Errorf("record %s %s as %v, want %v", id, how, got[id], want[id])
		}
	}
	t.Errorf("%d records %s, want %d", len(got), how, len(want))
}
