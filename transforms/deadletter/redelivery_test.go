package deadletter_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/deadletter"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.Function1x1[message.Entry, int64](invalidOf)
	register.Function1x1[message.Entry, string](nameAndCount)
}

func TestMain(m *testing.M) {
	os.Exit(beamtest.Main(m))
}

var h0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()

// dead is a dead letter published minute minutes into h0, placed there (as
// bucket.AssignDeadLetters would place it).
func dead(id string, minute int) message.DeadLetter {
	return message.DeadLetter{Bucket: h0, Message: message.Message{ID: id, PublishTime: h0 + int64(minute)*time.Minute.Milliseconds(), Data: []byte("x")}, Reason: "not Avro"}
}

// writeFile writes a dead-letter file of run (pane 0, shard 0) in bucket h0 holding ds.
func writeFile(t *testing.T, tg output.Target, run string, ds ...message.DeadLetter) {
	t.Helper()
	tg.RunID = run
	name := tg.DeadLetterPath(h0, 0, 0)
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.Message.ID)
	}
	w := avrofile.NewWriter(output.DeadLetterSchema, name, avrofile.Meta{Key: output.MetaIDs, Value: output.IDsMeta(ids)})
	for _, d := range ds {
		w.Append(deadletter.Record(d).Append(nil))
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, w.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRedeliveredDeadLetterWrittenOnce: a message already in a dead-letter file of another
// run (the job before a crash wrote it and died before its ack) is not written again, nor a
// second copy within one pane; a retried bundle's or a replay rerun's own file is rewritten.
func TestRedeliveredDeadLetterWrittenOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rerun  bool
		before func(t *testing.T, tg output.Target)
		input  []message.DeadLetter
		want   []string // message ids in this run's file
	}{
		{"another run's file holds m1", false, func(t *testing.T, tg output.Target) { writeFile(t, tg, "r0", dead("m1", 5)) },
			[]message.DeadLetter{dead("m1", 5), dead("m2", 6), dead("m2", 6)}, []string{"m2"}},
		{"every one written before", false, func(t *testing.T, tg output.Target) { writeFile(t, tg, "r0", dead("m1", 5), dead("m2", 6)) },
			[]message.DeadLetter{dead("m1", 5), dead("m2", 6)}, nil},
		{"a retried bundle rewrites its own file", false, func(t *testing.T, tg output.Target) { writeFile(t, tg, "r1", dead("m1", 5)) },
			[]message.DeadLetter{dead("m1", 5), dead("m2", 6)}, []string{"m1", "m2"}},
		{"a replay run again rewrites its own files", true, func(t *testing.T, tg output.Target) { writeFile(t, tg, "r1", dead("m1", 5)) },
			[]message.DeadLetter{dead("m1", 5)}, []string{"m1"}},
		{"no id: kept", false, func(t *testing.T, tg output.Target) { writeFile(t, tg, "r0", dead("", 5)) },
			[]message.DeadLetter{dead("", 5)}, []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := output.Target{Root: t.TempDir(), EventType: "play-track", RunID: "r1", Rerun: tc.rerun,
				Layout: output.Layout{Width: time.Hour, Skew: 30 * time.Minute}}
			tc.before(t, tg)
			p, s := beam.NewPipelineWithRoot()
			entries := deadletter.Write(s, beam.CreateList(s, tc.input), deadletter.Config{Target: tg, Shards: 1})
			var want []any
			if len(tc.want) > 0 {
				want = append(want, int64(len(tc.want)))
			}
			beamtest.Equals(s, beam.ParDo(s, invalidOf, entries), want...)
			beamtest.Run(t, p)

			data, err := os.ReadFile(tg.DeadLetterPath(h0, 0, 0))
			if len(tc.want) == 0 {
				if err == nil {
					t.Errorf("this run wrote a file with nothing new in it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, recs, err := avrofile.Read(data)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.(map[string]any)["message_id"].(string))
			}
			f, _ := os.Open(tg.DeadLetterPath(h0, 0, 0))
			defer f.Close()
			ids, err := output.ReadFileIDs(f)
			if err != nil || !slices.Equal(got, tc.want) || !slices.Equal(ids, tc.want) {
				t.Errorf("this run's file holds %v (header %v, %v), want %v", got, ids, err, tc.want)
			}
		})
	}
}

func invalidOf(e message.Entry) int64 { return e.Invalid }

// A bucket can close between the placing of a dead letter and its writing (another job
// closed it): the writer asks again, and writes into the next open bucket, under a pane of
// its own there, never a file the closed bucket's manifest does not list. A bucket this
// replay closed itself already holds its dead letters: nothing is written.
func TestDeadLettersOfABucketClosedSincePlacement(t *testing.T) {
	for _, tc := range []struct {
		name     string
		closedBy string // run id of bucket h0's manifest
		rerun    bool
		want     string // the file written, relative to the target's dead-letter folders
	}{
		{"closed by another job: the next open bucket", "r0", false, "moved"},
		{"closed by this replay: nothing again", "r1", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tg := output.Target{Root: t.TempDir(), EventType: "play-track", RunID: "r1", Rerun: tc.rerun,
				Layout: output.Layout{Width: time.Hour, Skew: 30 * time.Minute}}
			st, err := objstore.Open(ctx, tg.Root)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			m, _ := output.Manifest{RunID: tc.closedBy}.Marshal()
			if err := st.Write(ctx, tg.ManifestPath(h0), m); err != nil {
				t.Fatal(err)
			}
			d := dead("m1", 5) // placed in h0 before the close
			p, s := beam.NewPipelineWithRoot()
			entries := deadletter.Write(s, beam.Create(s, d), deadletter.Config{Target: tg, Shards: 1})
			var want []any
			next := tg.Layout.Next(h0)
			if tc.want != "" {
				want = append(want, fmt.Sprintf("%s 1", tg.DeadLetterPath(next, tg.Layout.MovedPane(h0, next, 0), 0)))
			}
			beamtest.Equals(s, beam.ParDo(s, nameAndCount, entries), want...)
			beamtest.Run(t, p)
			if names, _ := st.List(ctx, output.Join(tg.DeadLetterDir(h0), output.DataFiles)); len(names) != 0 {
				t.Errorf("the closed bucket got dead-letter files %v", names)
			}
		})
	}
}

func nameAndCount(e message.Entry) string { return fmt.Sprintf("%s %d", e.Name, e.Invalid) }
