package view

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/rollout"
)

// Rollout renders the result of rollout or rollback: one line per wave, the jobs that were
// acted on (the items of a deploy's result, with their wave), and the summary. The
// JSON lists empty waves and items as [], on a copy: r is only read.
func Rollout(w io.Writer, f Format, r *rollout.Result) error {
	if f == JSON {
		out := *r
		out.Items = nonNil(out.Items)
		out.RolledBack = nonNil(out.RolledBack)
		out.Waves = nonNil(out.Waves)
		return WriteJSON(w, &out)
	}
	tw := table(w)
	if len(r.Waves) > 0 {
		fmt.Fprintln(tw, "WAVE\tEVENT TYPES\tCHANGED\tOUTCOME")
		for _, wv := range r.Waves {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", wv.Name, len(wv.EventTypes), wv.Changed, wv.Outcome)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := itemTable(w, append(slices.Clone(r.Items), r.RolledBack...)); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// rolloutLine renders one of a rollout's or rollback's steps (Progress): the waves, each
// job when it is done (`[ok]`, or its status), the soaks and the gate's verdicts, the
// rollbacks.
func rolloutLine(w io.Writer, e deploy.Event) {
	switch e.Kind {
	case rollout.EventStart:
		fmt.Fprintf(w, "rollout %s: %d event types to change in %d waves, soak %s per wave\n", e.Rollout, e.Count, e.Waves, e.Soak)
	case rollout.EventResume:
		fmt.Fprintf(w, "rollout %s: resuming; %d jobs were upgraded before the interruption: soaking them first\n", e.Rollout, e.Count)
	case rollout.EventWave:
		fmt.Fprintf(w, "%s: upgrading %d of %d event types\n", e.Wave, e.Count, e.Of)
	case rollout.EventWaveSkipped:
		fmt.Fprintf(w, "%s: %d event types, nothing to change\n", e.Wave, e.Of)
	case rollout.EventJob:
		fmt.Fprintln(w, jobLine(e.Item))
	case rollout.EventReplacing:
		fmt.Fprintf(w, "  %s: update incompatible; draining %s before launching its replacement\n", e.Item.JobName, e.OldJob)
	case rollout.EventSoak:
		fmt.Fprintf(w, "%s: soaking %s, watching %d upgraded jobs\n", e.Wave, e.Soak, e.Count)
	case rollout.EventHealthy:
		fmt.Fprintf(w, "%s: healthy after %s\n", e.Wave, e.Soak)
	case rollout.EventGateFailed:
		fmt.Fprintf(w, "%s: health gate FAILED: %s\n", e.Wave, strings.Join(e.Problems, "; "))
	case rollout.EventStop:
		fmt.Fprintf(w, "rollout %s: stopping; rolling back %d upgraded jobs in place\n", e.Rollout, e.Count)
	case rollout.EventRollback:
		fmt.Fprintf(w, "rollback %s: %d jobs back to their previous versions, in place\n", e.Rollout, e.Count)
	}
}

// jobLine is a done job's progress line: `  [ok] events-a update: v1 → v2 j2`, with the
// status instead of ok when it did not end as its action meant, and its error.
func jobLine(it *deploy.ItemResult) string {
	ok := rollout.Upgraded
	if it.Action == rollout.RollbackAction {
		ok = rollout.RolledBack
	}
	mark := "ok"
	if it.Status != ok {
		mark = strings.ToUpper(string(it.Status))
	}
	s := fmt.Sprintf("  [%s] %s %s: %s %s", mark, it.JobName, it.Action, versions(it.From, it.Version), it.JobID)
	if it.Error != "" {
		s = strings.TrimRight(s, " ") + ": " + it.Error
	}
	return strings.TrimRight(s, " ")
}
