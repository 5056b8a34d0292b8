// Package manifest closes buckets: once a bucket's close time has passed, it writes the
// bucket's manifest (_SUCCESS), the commit record that lists every file of the bucket.
//
// # Behavior
//
// Entries (files written, dead letters, heartbeats) of a bucket meet in a GroupByKey whose
// window ends at the bucket's close time, so it fires only once every file of the bucket
// has been written. A GroupByKey is used rather than an event-time timer because on Prism a
// timer at the window's end can fire before that window's last files arrive.
//
// The wall clock has the last word: a bucket whose close time is still in the future (a
// drained job, or a replay reaching the present) keeps its files and gets no manifest; the
// next job closes it. A bucket that has a manifest is never written again. The manifest
// lists every data file in the bucket's folder, including files of a job this one
// replaced, with their record counts.
package manifest

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*output.Manifest)(nil)).Elem())
	register.DoFn2x3[beam.EventTime, message.Entry, beam.EventTime, int64, message.Entry](&keyFn{})
	register.DoFn4x1[context.Context, int64, func(*message.Entry) bool, func(output.Manifest), error](&closeFn{})
	register.Emitter1[output.Manifest]()
	register.Iter1[message.Entry]()
}

var (
	hoursClosed   = beam.NewCounter("eventdelivery", "buckets_closed")
	hoursLeftOpen = beam.NewCounter("eventdelivery", "buckets_left_open")
)

// Config is what Close needs to know besides the entries.
type Config struct {
	Target  output.Target
	Version string // pipeline version, recorded in manifests
	NowMs   int64  // for tests: the wall clock, Unix ms; 0 means time.Now
}

// Close groups PCollection<message.Entry> by bucket and writes each bucket's manifest once
// its close time has passed on the watermark and on the wall clock. It returns
// PCollection<output.Manifest>, one per bucket closed. The entries are windowed here like
// the data (fixed windows of Layout.WindowSize), so each bucket's window ends at its close
// time.
func Close(s beam.Scope, cfg Config, entries ...beam.PCollection) beam.PCollection {
	s = s.Scope("manifest.Close")
	keyed := make([]beam.PCollection, len(entries))
	for i, e := range entries {
		keyed[i] = beam.WindowInto(s, window.NewFixedWindows(cfg.Target.Layout.WindowSize()), beam.ParDo(s, &keyFn{Layout: cfg.Target.Layout}, e))
	}
	return beam.ParDo(s, &closeFn{Config: cfg}, beam.GroupByKey(s, beam.Flatten(s, keyed...)))
}

// keyFn keys an entry by its bucket and stamps it no earlier than the bucket's own stamp, so
// that an entry stamped early (a heartbeat sent at the start of its bucket, say) cannot close
// the bucket before its close time, and so before its files exist.
type keyFn struct {
	Layout output.Layout
}

func (f *keyFn) ProcessElement(ts beam.EventTime, e message.Entry) (beam.EventTime, int64, message.Entry) {
	return max(ts, mtime.FromMilliseconds(f.Layout.Stamp(e.Bucket))), e.Bucket, e
}

type closeFn struct {
	Config Config
	store  *objstore.Store
}

func (f *closeFn) Setup(ctx context.Context) (err error) {
	f.store, err = objstore.Open(ctx, f.Config.Target.Root)
	return err
}

func (f *closeFn) Teardown() error {
	return f.store.Close()
}

func (f *closeFn) now() time.Time {
	if f.Config.NowMs != 0 {
		return time.UnixMilli(f.Config.NowMs).UTC()
	}
	return time.Now().UTC()
}

func (f *closeFn) ProcessElement(ctx context.Context, start int64, iter func(*message.Entry) bool, emit func(output.Manifest)) error {
	t := f.Config.Target
	now := f.now()
	if close := t.Layout.CloseTime(start); now.UnixMilli() < close {
		hoursLeftOpen.Inc(ctx, 1)
		slog.Info("bucket not over on the wall clock; left open for the next job", "event_type", t.EventType, "bucket", output.Format(start), "closes_at", output.Format(close))
		return nil
	}
	// What a killed writer left half-written (on disk) is no part of the bucket.
	for _, dir := range []string{t.Dir(start), t.DeadLetterDir(start)} {
		if err := f.store.RemoveTemps(ctx, dir); err != nil {
			return err
		}
	}
	existing, err := t.ReadManifest(ctx, f.store, start)
	if err != nil {
		return err
	}
	if existing != nil {
		return nil // closed already: never written again
	}
	m := output.Manifest{
		EventType:       t.EventType,
		BucketStart:     output.Format(start),
		BucketEnd:       output.Format(t.Layout.Next(start)),
		RunID:           t.RunID,
		PipelineVersion: f.Config.Version,
		ClosedAt:        now.Format(time.RFC3339Nano),
		Files:           []output.File{},
		DeadLetterFiles: []output.File{},
	}
	known, knownDead := map[string]int64{}, map[string]int64{}
	var e message.Entry
	for iter(&e) {
		m.Duplicates += e.Duplicates
		m.Skewed += e.Skewed
		m.Invalid += e.Invalid
		switch {
		case e.DeadLetter:
			knownDead[path.Base(e.Name)] = e.Invalid
		case e.Name != "":
			known[path.Base(e.Name)] = e.Records
		}
	}
	// The folders may also hold files of a job this one replaced: they count too.
	files, other, err := f.files(ctx, t.Dir(start), known)
	if err != nil {
		return err
	}
	m.Files = files
	for _, file := range m.Files {
		m.Records += file.Records
	}
	m.Duplicates += other.Duplicates
	m.Skewed += other.Skewed
	dead, otherDead, err := f.files(ctx, t.DeadLetterDir(start), knownDead)
	if err != nil {
		return err
	}
	m.DeadLetterFiles = dead
	m.Invalid += otherDead.Records
	body, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := f.store.Write(ctx, t.ManifestPath(start), body); err != nil {
		return err
	}
	hoursClosed.Inc(ctx, 1)
	slog.Info("bucket closed", "event_type", t.EventType, "bucket", m.BucketStart, "records", m.Records, "duplicates", m.Duplicates, "skewed", m.Skewed, "invalid", m.Invalid)
	emit(m)
	return nil
}

// files lists the files in dir with their record counts: from this job's entries (known),
// or read from the file when another job (a predecessor) wrote it; other sums what the
// files of other jobs hold: records and the counts in their headers.
func (f *closeFn) files(ctx context.Context, dir string, known map[string]int64) (out []output.File, other message.Entry, err error) {
	names, err := f.store.List(ctx, output.Join(dir, output.DataFiles))
	if err != nil {
		return nil, message.Entry{}, err
	}
	seen := map[string]bool{}
	out = []output.File{}
	for _, n := range names {
		base := path.Base(n)
		seen[base] = true
		records, ok := known[base]
		if !ok {
			data, err := f.store.Read(ctx, n)
			if err != nil {
				return nil, message.Entry{}, err
			}
			info, err := avrofile.Stat(data)
			if err != nil {
				return nil, message.Entry{}, fmt.Errorf("%s: %w", n, err)
			}
			records = info.Records
			other.Records += records
			other.Duplicates += metaCount(info.Meta[output.MetaDuplicates])
			other.Skewed += metaCount(info.Meta[output.MetaSkewed])
		}
		out = append(out, output.File{Name: base, Records: records})
	}
	for name, records := range known {
		if !seen[name] {
			out = append(out, output.File{Name: name, Records: records})
		}
	}
	slices.SortFunc(out, func(a, b output.File) int { return strings.Compare(a.Name, b.Name) })
	return out, other, nil
}

// metaCount reads a count from a file header; files written before the counts were there
// have none, which counts as 0.
func metaCount(v []byte) int64 {
	n, _ := strconv.ParseInt(string(v), 10, 64)
	return n
}
