package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
)

// openHoursSpan is how far back a replay without a range looks for hours another run has
// open, when --lookback is 0: a live job closes each hour soon after it ends, so the hours
// it has open are recent.
const openHoursSpan = 48 * time.Hour

// CheckReplayHours looks, before a replay starts, at the hours of the output it may write:
// those of its range (--replay_from, --replay_to) or, without one, the recent hours (the
// lookback, 48h when that is 0), since which hours the input holds is known only once it is
// read. An hour that holds files of another run but no manifest is one a live job (or a
// job that died) still has open: the replay is refused, naming them, unless
// c.ReplayOpenHours. Hours of the range closed by other runs are logged: a replay changes
// none of them. nowMs is the wall clock (0: time.Now).
func (c Config) CheckReplayHours(ctx context.Context, nowMs int64) error {
	if c.Input == "" {
		return nil
	}
	t := c.Target()
	st, err := objstore.Open(ctx, t.Root)
	if err != nil {
		return fmt.Errorf("check the output's hours: %w", err)
	}
	defer st.Close()
	hours := t.Range
	if !hours.IsSet() {
		if nowMs == 0 {
			nowMs = time.Now().UnixMilli()
		}
		span := c.Lookback
		if span <= 0 {
			span = openHoursSpan
		}
		hours = c.Layout.Lookback(nowMs, span)
	}
	var open, closed []string
	for _, h := range hours.Buckets(c.Layout) {
		files, err := st.List(ctx, output.Join(t.Dir(h), output.DataFiles))
		if err != nil {
			return fmt.Errorf("check hour %s: %w", output.Format(h), err)
		}
		m, err := t.ReadManifest(ctx, st, h)
		if err != nil {
			return fmt.Errorf("check hour %s: %w", output.Format(h), err)
		}
		switch {
		case m != nil && m.RunID != t.RunID:
			closed = append(closed, output.Format(h))
		case m == nil && othersFile(files, t.RunID):
			open = append(open, output.Format(h))
		}
	}
	if len(closed) > 0 {
		slog.Info("hours of the replay's range already closed by other runs: the replay changes none of them (to rebuild history, replay into a new --output)",
			"event_type", c.EventType, "hours", len(closed), "first", closed[0], "last", closed[len(closed)-1])
	}
	if len(open) == 0 {
		return nil
	}
	if c.ReplayOpenHours {
		slog.Warn("replaying over hours another run has open (--replay_open_hours): this replay adds its files to them and closes those whose close time has passed",
			"event_type", c.EventType, "hours", strings.Join(open, ", "))
		return nil
	}
	return fmt.Errorf("replay into %s: another run (a live job?) still has %d hour(s) open there, files but no manifest: %s. "+
		"Replay a range that leaves them out (--replay_from, --replay_to), wait until they are closed, "+
		"or pass --replay_open_hours=true to write into them anyway (docs/operations.md, Backfills). "+
		"To rebuild history, replay into a new --output", t.Base(), len(open), strings.Join(open, ", "))
}

// othersFile reports whether files (data files of a bucket) hold one written by another run.
func othersFile(files []string, run string) bool {
	for _, f := range files {
		if r, _, _, ok := output.ParseFileName(f); !ok || r != run {
			return true
		}
	}
	return false
}

// summaryCounters are the counters a replay's summary line reports, in order.
var summaryCounters = []string{"replay_files_read", "replay_records_read", "outside_replay_range", "already_delivered",
	"moved_from_closed_bucket", "unreadable_replay_lines", "buckets_closed", "buckets_left_open"}

// Summary returns the log attributes of a finished replay from its metrics: the counters
// of summaryCounters summed over the steps (0 when a runner reports none).
func Summary(res metrics.Results) []any {
	sums := map[string]int64{}
	for _, c := range res.AllMetrics().Counters() {
		if c.Key.Namespace == "eventdelivery" {
			sums[c.Key.Name] += c.Result()
		}
	}
	out := make([]any, 0, 2*len(summaryCounters))
	for _, n := range summaryCounters {
		out = append(out, n, sums[n])
	}
	return out
}
