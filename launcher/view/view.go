// Package view renders the launcher's results for people (tables) and for programs (JSON).
// The two are separate renderers over the same values: JSON never holds prose, and tables
// hold no data that JSON lacks.
package view

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/status"
)

// Format is an output format.
type Format string

// Formats.
const (
	Table Format = "table"
	JSON  Format = "json"
)

// ParseFormat checks a --output value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Table, JSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("--output %q: want table or json", s)
}

// WriteJSON is the launcher's one JSON writer: v indented by two spaces, one value per
// call, a final newline. It only reads v.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table returns the launcher's one table writer on w: cells padded with spaces, columns
// two spaces apart. Flush it after the last row.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// Watched shows one report of a --watch: on a terminal in place of the last one (the
// screen cleared first) with when it was made and how often, otherwise after the last one,
// a blank line between.
func Watched(w io.Writer, terminal bool, report []byte, at time.Time, every time.Duration) {
	if terminal {
		fmt.Fprintf(w, "\x1b[H\x1b[2J%s\nupdated %s, every %s; Ctrl-C to stop\n", report, at.Format(time.TimeOnly), every)
		return
	}
	fmt.Fprintf(w, "%s\n", report)
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Validation renders the result of validate: the problems, or a confirmation.
func Validation(w io.Writer, f Format, path string, fl *fleet.Fleet, problems []fleet.Problem) error {
	if f == JSON {
		out := struct {
			File       string          `json:"file"`
			Valid      bool            `json:"valid"`
			EventTypes int             `json:"event_types"`
			Problems   []fleet.Problem `json:"problems"`
		}{File: path, Valid: len(problems) == 0, Problems: nonNil(problems)}
		if fl != nil {
			out.EventTypes = len(fl.EventTypes)
		}
		return WriteJSON(w, out)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(w, p.String())
		}
		_, err := fmt.Fprintf(w, "%d problems.\n", len(problems))
		return err
	}
	_, err := fmt.Fprintf(w, "%s: fleet %s, version %s, %d event types in %d project/regions: valid.\n",
		path, fl.Name, fl.Version, len(fl.EventTypes), len(plan.Locations(fl.Jobs())))
	return err
}

// Plan renders a plan. Unchanged event types are counted, not listed, in the table.
func Plan(w io.Writer, f Format, p *plan.Plan) error {
	if f == JSON {
		return WriteJSON(w, struct {
			*plan.Plan
			Counts  plan.Counts `json:"counts"`
			Changes bool        `json:"changes"`
		}{p, p.Counts(), p.HasChanges()})
	}
	tw := table(w)
	for _, it := range p.Items {
		if it.Action == plan.Unchanged && it.Replacing == nil {
			continue
		}
		action := string(it.Action)
		if it.Replacing != nil && it.Action == plan.Unchanged {
			action = "updating"
		}
		if it.Blocks != "" {
			action += " (" + string(it.Blocks) + ")"
		}
		fmt.Fprintf(tw, "%3s %s\t%s/%s\t%s\t%s\n", it.Action.Symbol(), it.JobName, it.Project, it.Region, action, it.Reason)
	}
	for _, o := range p.Orphans {
		reason := "orphan: no event type in the fleet file; left alone (deploy --prune drains it)"
		if o.Action == plan.Drain {
			reason = "orphan: no event type in the fleet file"
		}
		fmt.Fprintf(tw, "%3s %s\t%s/%s\t%s\t%s\n", o.Action.Symbol(), o.Job.Name, o.Job.Project, o.Job.Region, o.Action, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Starts) > 0 {
		fmt.Fprintln(w)
	}
	for _, st := range p.Starts {
		fmt.Fprintln(w, "Starts in "+st.String())
	}
	if p.HasChanges() || len(p.Orphans) > 0 {
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintln(w, p.Summary())
	return err
}

// Deploy renders a deploy's result. Jobs that were already running unchanged are counted,
// not listed, in the table.
func Deploy(w io.Writer, f Format, r *deploy.Result) error {
	if f == JSON {
		c := r.Counts()
		return WriteJSON(w, struct {
			*deploy.Result
			Counts deploy.Counts `json:"counts"`
			OK     bool          `json:"ok"`
		}{r, c, r.OK()})
	}
	var listed []deploy.ItemResult
	for _, it := range r.Items {
		if it.Action != plan.Unchanged || it.Status != deploy.Running {
			listed = append(listed, it)
		}
	}
	if err := itemTable(w, listed); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// itemTable renders the items of a deploy, a rollout or a rollback in one shape, followed
// by a blank line; nothing when there are none. The WAVE column is there when an item
// belongs to a rollout's wave; VERSION reads `v1 → v2` when the version before is known.
func itemTable(w io.Writer, items []deploy.ItemResult) error {
	if len(items) == 0 {
		return nil
	}
	waves := false
	for _, it := range items {
		waves = waves || it.Wave > 0
	}
	tw := table(w)
	wave := func(it deploy.ItemResult) string {
		if !waves {
			return ""
		}
		return fmt.Sprintf("%d\t", it.Wave)
	}
	header := "JOB\tPROJECT/REGION\tACTION\tVERSION\tSTATUS\tJOB ID\tSTATE\tNOTE"
	if waves {
		header = "JOB\tPROJECT/REGION\tWAVE\tACTION\tVERSION\tSTATUS\tJOB ID\tSTATE\tNOTE"
	}
	fmt.Fprintln(tw, header)
	for _, it := range items {
		note := it.Error
		if it.Recognised {
			note = "launch reported an error but created the job"
		}
		if it.Attempts > 1 && note == "" {
			note = fmt.Sprintf("%d attempts", it.Attempts)
		}
		version := versions(it.From, it.Version)
		fmt.Fprintf(tw, "%s\t%s/%s\t%s%s\t%s\t%s\t%s\t%s\t%s\n", it.JobName, it.Project, it.Region, wave(it), it.Action, dash(version),
			it.Status, dash(it.JobID), dash(string(it.State)), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

// Status renders a fleet's status. When health was judged (status --health), the
// table gains the columns LAG, WM AGE, LAST CLOSED and HEALTH, and JSON a "healthy" field.
func Status(w io.Writer, f Format, r *status.Report) error {
	withHealth := false
	for _, row := range r.Rows {
		withHealth = withHealth || row.Health != nil
	}
	if f == JSON {
		var healthy *bool
		if withHealth {
			h := r.Healthy()
			healthy = &h
		}
		return WriteJSON(w, struct {
			*status.Report
			Converged bool   `json:"converged"`
			Healthy   *bool  `json:"healthy,omitempty"`
			Summary   string `json:"summary"`
		}{r, r.Converged(), healthy, r.Summary()})
	}
	tw := table(w)
	header := "EVENT TYPE\tJOB\tSTATE\tVERSION\tPINNED\tSINCE\tPROJECT/REGION\tJOB ID\tNOTE"
	if withHealth {
		header += "\tLAG\tWM AGE\tLAST CLOSED\tHEALTH"
	}
	fmt.Fprintln(tw, header)
	for _, row := range r.Rows {
		pinned := "yes"
		if !row.MatchesPinned {
			pinned = "NO"
		}
		since := "-"
		if !row.Since.IsZero() {
			since = row.Since.UTC().Format(time.DateTime)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\t%s", row.EventType, row.JobName, row.State, dash(row.Version), pinned, since,
			row.Project, row.Region, dash(row.JobID), row.Detail)
		if withHealth {
			line += "\t" + healthColumns(row.Health)
		}
		fmt.Fprintln(tw, line)
	}
	for _, o := range r.Orphans {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\t%s", dash(o.Labels[fleet.LabelEventType]), o.Name, o.State, dash(o.Labels[fleet.LabelPipelineVersion]), "-",
			o.StateTime.UTC().Format(time.DateTime), o.Project, o.Region, o.ID, "orphan: not in the fleet file")
		if withHealth {
			line += "\t-\t-\t-\t-"
		}
		fmt.Fprintln(tw, line)
	}
	for _, b := range r.Backfills {
		note := "backfill " + b.Labels[fleet.LabelBackfill]
		if from, to := b.Labels[fleet.LabelBackfillFrom], b.Labels[fleet.LabelBackfillTo]; from != "" {
			note += fmt.Sprintf(" of [%s, %s)", from, to)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\t%s", dash(b.Labels[fleet.LabelEventType]), b.Name, b.State, dash(b.Labels[fleet.LabelPipelineVersion]), "-",
			b.StateTime.UTC().Format(time.DateTime), b.Project, b.Region, b.ID, note)
		if withHealth {
			line += "\t-\t-\t-\t-"
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Summary())
	return err
}

func healthColumns(h *status.Health) string {
	if h == nil {
		return "-\t-\t-\t-"
	}
	secs := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return (time.Duration(*v) * time.Second).String()
	}
	last := "-"
	if h.LastClosed != "" {
		if t, err := time.Parse(time.RFC3339, h.LastClosed); err == nil {
			last = t.UTC().Format("2006-01-02 15:04")
		}
	}
	verdict := "ok"
	if !h.Healthy {
		verdict = "UNHEALTHY: " + strings.Join(h.Problems, "; ")
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s", secs(h.SystemLag), secs(h.WatermarkAge), last, verdict)
}

// versions is a job's versions before and after: `v1 → v2`, the one known, or "".
func versions(from, to string) string {
	switch {
	case from == "":
		return to
	case to == "":
		return from + " → ?"
	}
	return from + " → " + to
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
