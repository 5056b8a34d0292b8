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
// replaced, with their record counts, sizes and the span of their records' bucket times.
// A replay run again under its run id (output.Target.Rerun) replaces what an earlier attempt
// left: files of its run id that this attempt did not write are removed, not listed.
//
// # Schemas
//
// The manifest records the fingerprint of this job's reader schema (Config.Schema) and, per
// data file, the fingerprint of the schema in that file's header: a bucket written across a
// schema change holds files of the old reader schema and of the new, and a downstream
// reader reads them all with the manifest's (the newest) by Avro's resolution. Its
// records_by_revision sums each file's counts per writer revision (output.MetaRevisions),
// a predecessor's files included; it is left out when a file has none (written by an older
// version) or an unreadable one, rather than be short. Neither keeps the bucket from closing.
//
// # Notification
//
// With Config.NotifyTopic, each bucket closed is announced on that Pub/Sub topic right after
// its manifest is written, never before: the message's data is the manifest as written, its
// attributes event_type, bucket_start, bucket_end and manifest (the manifest's path). The
// manifest names the topic (notify_topic), and once Pub/Sub has taken the message a notice
// is written at output.Target.NoticePath. Delivery is at least once: whoever finds a closed
// bucket whose manifest names a topic but that has no notice announces it and writes the
// notice. That is a bundle retried after a crash between the manifest and the notice, and a
// live job that replaces one that died there (heartbeat.Lookback hands it such buckets of
// its lookback). A consumer dedupes on the manifest attribute.
package manifest

import (
	"context"
	"encoding/json"
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
	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/internal/inflight"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/progress"
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
	// Schema is the job's reader schema (JSON), whose fingerprint the manifests record; ""
	// records none.
	Schema string
	NowMs  int64 // for tests: the wall clock, Unix ms; 0 means time.Now
	// NotifyTopic (projects/P/topics/T), when set, gets one message per bucket closed,
	// published once its manifest is written (see the package doc, # Notification).
	NotifyTopic string
	// Progress is the key of the progress.Counters that counts buckets closed; "" for none.
	Progress string
	// Gate is the key of the inflight.Gate whose dedupe ids of a bucket are dropped once it
	// is closed (dedupe.InProcess); "" for none.
	Gate string
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
	fn := &closeFn{Config: cfg}
	if cfg.Schema != "" {
		fp, err := codec.Fingerprint(cfg.Schema)
		if err != nil {
			panic("manifest.Close: " + err.Error())
		}
		fn.Fingerprint = fp
	}
	return beam.ParDo(s, fn, beam.GroupByKey(s, beam.Flatten(s, keyed...)))
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
	Config      Config
	Fingerprint string // of Config.Schema
	store       *objstore.Store
	notifier    *notifier
	gate        *inflight.Gate
}

func (f *closeFn) Setup(ctx context.Context) (err error) {
	f.gate = inflight.For(f.Config.Gate)
	if f.store, err = objstore.Open(ctx, f.Config.Target.Root); err != nil {
		return err
	}
	if f.Config.NotifyTopic != "" {
		f.notifier, err = newNotifier(ctx, f.Config.NotifyTopic)
	}
	return err
}

func (f *closeFn) Teardown() error {
	if f.notifier != nil {
		if err := f.notifier.close(); err != nil {
			slog.Warn("closing the notify client", "topic", f.Config.NotifyTopic, "error", err)
		}
	}
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
	// Every file of the bucket is written (its entries are all here): no pane of it comes
	// again, whatever happens to the bucket now.
	defer f.gate.Forget(start)
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
		// Closed already: never written again. A crash may have come between the
		// manifest and its announcement: announce it if no notice says it was. (A
		// manifest of this run written before manifests named their topic counts too.)
		if f.notifier == nil || (existing.NotifyTopic == "" && existing.RunID != t.RunID) {
			return nil
		}
		body, err := f.store.Read(ctx, t.ManifestPath(start))
		if err != nil {
			return err
		}
		return f.announce(ctx, start, existing, body)
	}
	m := output.Manifest{
		ManifestVersion:   output.ManifestVersion,
		Layout:            t.Layout.Name(),
		EventType:         t.EventType,
		BucketStart:       output.Format(start),
		BucketEnd:         output.Format(t.Layout.Next(start)),
		NotifyTopic:       f.Config.NotifyTopic,
		RunID:             t.RunID,
		SchemaFingerprint: f.Fingerprint,
		PipelineVersion:   f.Config.Version,
		ClosedAt:          now.Format(time.RFC3339Nano),
		Files:             []output.File{},
		DeadLetterFiles:   []output.File{},
	}
	known, knownDead := map[string]message.Entry{}, map[string]message.Entry{}
	var e message.Entry
	for iter(&e) {
		m.Duplicates += e.Duplicates
		m.Skewed += e.Skewed
		m.Invalid += e.Invalid
		switch {
		case e.DeadLetter:
			e.Records = e.Invalid
			knownDead[path.Base(e.Name)] = e
		case e.Name != "":
			known[path.Base(e.Name)] = e
		}
	}
	// The folders may also hold files of a job this one replaced: they count too.
	files, other, times, err := f.files(ctx, t.Dir(start), true, known)
	if err != nil {
		return err
	}
	m.Files = files
	for _, file := range m.Files {
		m.Records += file.Records
	}
	m.RecordsByRevision = other.Revisions
	m.Duplicates += other.Duplicates
	m.Skewed += other.Skewed
	if times.ok {
		m.EarliestBucketTime, m.LatestBucketTime = output.FormatTime(times.lo), output.FormatTime(times.hi)
	}
	dead, otherDead, _, err := f.files(ctx, t.DeadLetterDir(start), false, knownDead)
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
	if f.notifier != nil {
		if err := f.announce(ctx, start, &m, body); err != nil {
			return err
		}
	}
	hoursClosed.Inc(ctx, 1)
	progress.For(f.Config.Progress).BucketClosed()
	slog.Info("bucket closed", "event_type", t.EventType, "bucket", m.BucketStart, "records", m.Records, "duplicates", m.Duplicates, "skewed", m.Skewed, "invalid", m.Invalid)
	emit(m)
	return nil
}

// announce publishes the close of bucket start, unless its notice says it was, and then
// writes the notice.
func (f *closeFn) announce(ctx context.Context, start int64, m *output.Manifest, body []byte) error {
	t := f.Config.Target
	done, err := f.store.Exists(ctx, t.NoticePath(start))
	if err != nil || done {
		return err
	}
	if err := f.notifier.notify(ctx, m, t.ManifestPath(start), body); err != nil {
		return err
	}
	notice, err := json.Marshal(output.Notice{
		Topic: f.Config.NotifyTopic, RunID: t.RunID, PublishedAt: f.now().Format(time.RFC3339Nano),
	})
	if err != nil {
		return fmt.Errorf("notice of bucket %s: %w", m.BucketStart, err)
	}
	return f.store.Write(ctx, t.NoticePath(start), append(notice, '\n'))
}

// files lists the files in dir (data files, or else dead-letter files) with their record
// counts, sizes and, for data files, schema fingerprints:
// from this job's entries (known), or read from the file when another job (a predecessor)
// wrote it. other sums what the files of other jobs hold (records, sizes, the counts in
// their headers), except its Revisions, which counts the records of every data file by
// writer revision, nil when one has no counts (and for dead-letter files). times spans
// the bucket times of the records of every file that recorded them.
func (f *closeFn) files(ctx context.Context, dir string, dataFiles bool, known map[string]message.Entry) (out []output.File, other message.Entry, times span, err error) {
	names, err := f.store.List(ctx, output.Join(dir, output.DataFiles))
	if err != nil {
		return nil, message.Entry{}, span{}, err
	}
	seen := map[string]bool{}
	out = []output.File{}
	// revs counts the records of every data file, this job's too; nil once one
	// file (or entry) has no counts.
	var revs revisionCounts
	if dataFiles {
		revs = revisionCounts{}
		for _, e := range known {
			if e.Records > 0 {
				revs.add(e.Revisions, e.Revisions != nil)
			}
		}
	}
	fingerprints := map[string]string{} // schema → fingerprint, for the files of other jobs
	for _, n := range names {
		base := path.Base(n)
		e, ok := known[base]
		if !ok && f.leftByEarlierAttempt(base) {
			if err := f.store.Remove(ctx, n); err != nil {
				return nil, message.Entry{}, span{}, err
			}
			slog.Info("file an earlier attempt of this replay left in a bucket it did not close; removed", "file", n)
			continue
		}
		seen[base] = true
		if !ok {
			data, err := f.store.Read(ctx, n)
			if err != nil {
				return nil, message.Entry{}, span{}, err
			}
			info, err := avrofile.Stat(data)
			if err != nil {
				return nil, message.Entry{}, span{}, fmt.Errorf("%s: %w", n, err)
			}
			e = message.Entry{Records: info.Records, Bytes: int64(len(data))}
			// What a header says of schemas never keeps a bucket from closing: a file whose
			// header cannot say is listed without it.
			if schema := string(info.Meta["avro.schema"]); dataFiles {
				fp, ok := fingerprints[schema]
				if !ok {
					if fp, err = codec.Fingerprint(schema); err != nil {
						slog.Warn("data file's schema has no fingerprint; listed without one", "file", n, "error", err)
					}
					fingerprints[schema] = fp
				}
				e.SchemaFingerprint = fp
			}
			if dataFiles {
				counts, ok, err := output.ParseRevisionsMeta(info.Meta[output.MetaRevisions])
				if err != nil {
					slog.Warn("data file's revision counts unreadable; the manifest gets none", "file", n, "error", err)
				}
				revs.add(counts, ok)
			}
			other.Records += e.Records
			other.Duplicates += metaCount(info.Meta[output.MetaDuplicates])
			other.Skewed += metaCount(info.Meta[output.MetaSkewed])
			lo, okLo := metaTime(info.Meta[output.MetaMinTime])
			hi, okHi := metaTime(info.Meta[output.MetaMaxTime])
			if okLo && okHi && e.Records > 0 {
				times.add(lo, hi)
			}
		}
		out = append(out, output.File{Name: base, Records: e.Records, Bytes: e.Bytes, SchemaFingerprint: e.SchemaFingerprint})
	}
	for name, e := range known {
		if !seen[name] {
			out = append(out, output.File{Name: name, Records: e.Records, Bytes: e.Bytes, SchemaFingerprint: e.SchemaFingerprint})
		}
	}
	for _, e := range known {
		if e.Records > 0 && !e.DeadLetter {
			times.add(e.MinTime, e.MaxTime)
		}
	}
	slices.SortFunc(out, func(a, b output.File) int { return strings.Compare(a.Name, b.Name) })
	other.Revisions = revs
	return out, other, times, nil
}

// leftByEarlierAttempt reports whether the file named base, which this run did not write,
// is nonetheless of its run id: a replay run again (output.Target.Rerun) after an attempt
// that died before closing the bucket. Its files are this attempt's to replace; one the
// attempt did not write again (its panes split the events otherwise) would hold them twice.
func (f *closeFn) leftByEarlierAttempt(base string) bool {
	run, _, _, ok := output.ParseFileName(base)
	return ok && f.Config.Target.Rerun && run == f.Config.Target.RunID
}

// revisionCounts sums records per writer revision over files; nil once a file has none.
type revisionCounts map[string]int64

func (r *revisionCounts) add(counts map[string]int64, ok bool) {
	if *r == nil {
		return
	}
	if !ok {
		*r = nil
		return
	}
	for rev, n := range counts {
		(*r)[rev] += n
	}
}

// span is the span of bucket times of a bucket's records, Unix ms; ok once it has one.
type span struct {
	lo, hi int64
	ok     bool
}

func (s *span) add(lo, hi int64) {
	if !s.ok {
		*s = span{lo, hi, true}
		return
	}
	s.lo, s.hi = min(s.lo, lo), max(s.hi, hi)
}

// metaTime reads a bucket time from a file header; files written before the times were
// recorded have none.
func metaTime(v []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// metaCount reads a count from a file header; files written before the counts were there
// have none, which counts as 0.
func metaCount(v []byte) int64 {
	n, _ := strconv.ParseInt(string(v), 10, 64)
	return n
}
