package heartbeat

import (
	"context"
	"log/slog"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(beam.EventTime, int64), error](&lookbackFn{})
}

// Lookback finds the buckets of the last `span` before now (output.Layout.Lookback;
// nowMs is Unix ms, 0 for the wall clock) that hold files but no manifest (left open by a
// job this one replaces, or by a replay that reached the present) and returns them
// (PCollection<int64> of bucket starts, stamped for their bucket) for FillGaps or Beats, so
// that this job closes them once its watermark passes their close time, listing the files
// of its predecessor. With unannounced, it also returns the closed buckets whose manifest
// names a notify topic but that have no notice (output.Notice): their closer died before
// announcing them, and this job announces them instead.
func Lookback(s beam.Scope, t output.Target, span time.Duration, nowMs int64, unannounced bool) beam.PCollection {
	s = s.Scope("heartbeat.Lookback")
	return beam.ParDo(s, &lookbackFn{Target: t, Span: span, NowMs: nowMs, Unannounced: unannounced}, beam.Impulse(s))
}

type lookbackFn struct {
	Target      output.Target
	Span        time.Duration
	NowMs       int64
	Unannounced bool
}

func (f *lookbackFn) ProcessElement(ctx context.Context, _ []byte, emit func(beam.EventTime, int64)) error {
	st, err := objstore.Open(ctx, f.Target.Root)
	if err != nil {
		return err
	}
	defer st.Close()
	now := f.NowMs
	if now == 0 {
		now = time.Now().UnixMilli()
	}
	l := f.Target.Layout
	for _, h := range l.Lookback(now, f.Span).Buckets(l) {
		files, err := st.List(ctx, output.Join(f.Target.Dir(h), output.DataFiles))
		if err != nil {
			return err
		}
		if len(files) == 0 {
			continue
		}
		closed, err := st.Exists(ctx, f.Target.ManifestPath(h))
		if err != nil {
			return err
		}
		switch {
		case !closed:
			slog.Info("found a bucket left open; it will be closed by this job", "event_type", f.Target.EventType, "bucket", output.Format(h), "files", len(files))
		case f.Unannounced:
			ok, err := f.unannounced(ctx, st, h)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			slog.Info("found a closed bucket that was never announced; this job announces it", "event_type", f.Target.EventType, "bucket", output.Format(h))
		default:
			continue
		}
		emit(mtime.FromMilliseconds(l.Stamp(h)), h)
	}
	return nil
}

// unannounced reports whether closed bucket h names a notify topic in its manifest but has
// no notice of its announcement.
func (f *lookbackFn) unannounced(ctx context.Context, st *objstore.Store, h int64) (bool, error) {
	done, err := st.Exists(ctx, f.Target.NoticePath(h))
	if err != nil || done {
		return false, err
	}
	m, err := f.Target.ReadManifest(ctx, st, h)
	if err != nil || m == nil {
		return false, err
	}
	return m.NotifyTopic != "", nil
}
