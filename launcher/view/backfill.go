package view

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/eventdelivery/eventdelivery/launcher/backfill"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
)

// BackfillPlan renders `backfill --dry-run`: the job it would launch, its parameters
// (the inline schema by its size) and labels.
func BackfillPlan(w io.Writer, f Format, b *backfill.Backfill) error {
	if f == JSON {
		return WriteJSON(w, struct {
			*backfill.Backfill
			DryRun bool `json:"dry_run"`
		}{b, true})
	}
	fmt.Fprintf(w, "Would launch %s in %s/%s: %s of %s, a batch job (the live job %s is not touched)\n",
		b.JobName, b.Project, b.Region, b.Version, b.Template, b.LiveJob)
	tw := table(w)
	for _, k := range slices.Sorted(maps.Keys(b.Parameters)) {
		v := b.Parameters[k]
		if k == fleet.ParamSchemaJSON {
			v = fmt.Sprintf("(%d bytes)", len(v))
		}
		fmt.Fprintf(tw, "  parameter\t%s\t%s\n", k, v)
	}
	for _, k := range slices.Sorted(maps.Keys(b.Labels)) {
		fmt.Fprintf(tw, "  label\t%s\t%s\n", k, b.Labels[k])
	}
	return tw.Flush()
}

// BackfillLaunched is the line `backfill` prints once the job is launched, before any wait.
func BackfillLaunched(w io.Writer, f Format, r *backfill.Result) error {
	if f == JSON {
		return nil // the JSON is the one result at the end
	}
	_, err := fmt.Fprintf(w, "Launched %s in %s/%s: job %s\n  %s\n", r.JobName, r.Project, r.Region, r.JobID, r.ConsoleURL)
	return err
}

// BackfillResult renders a backfill at its end: with a span that was followed, a row per
// hour of it, then the summary. JSON holds the whole result.
func BackfillResult(w io.Writer, f Format, r *backfill.Result) error {
	if f == JSON {
		return WriteJSON(w, struct {
			*backfill.Result
			Summary string `json:"summary"`
		}{r, r.Summary()})
	}
	if len(r.Hours) > 0 {
		tw := table(w)
		fmt.Fprintln(tw, "HOUR\tSTATE\tRECORDS\tDUPLICATES\tSKEWED\tDEAD LETTERS\tRUN")
		for _, h := range r.Hours {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", h.Start, h.State, h.Records, h.Duplicates, h.Skewed, h.DeadLetters, dash(h.RunID))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}
