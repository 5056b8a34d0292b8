package view

import (
	"fmt"
	"io"

	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/dashboard"
)

// AlertsPlan renders an alerts plan: one line per change, the diff of updates under
// them, problems, and the summary. Unchanged policies are counted, not listed, in the
// table.
func AlertsPlan(w io.Writer, f Format, p *alerts.Plan) error {
	if f == JSON {
		return WriteJSON(w, struct {
			*alerts.Plan
			Counts  alerts.Counts `json:"counts"`
			Changes bool          `json:"has_changes"`
		}{p, p.Counts(), p.HasChanges()})
	}
	tw := table(w)
	listed := 0
	for _, c := range p.Changes {
		if c.Action == alerts.Unchanged {
			continue
		}
		listed++
		scope := fmt.Sprintf("%d event types", c.EventTypes)
		if c.EventTypes == 1 {
			scope = "1 event type"
		}
		if c.Action == alerts.Delete {
			scope = "-"
		}
		fmt.Fprintf(tw, "%3s %s\t%s\t%s\t%s\n", c.Action.Symbol(), c.DisplayName, c.Key, scope, c.Reason)
		for _, d := range c.Diff {
			fmt.Fprintf(tw, "      %s\t\t\t\n", d)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, pr := range p.Problems {
		fmt.Fprintf(w, "problem: %s\n", pr)
	}
	if listed > 0 || len(p.Problems) > 0 {
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintln(w, p.Summary())
	return err
}

// AlertsApply renders what apply did.
func AlertsApply(w io.Writer, f Format, r *alerts.Result) error {
	if f == JSON {
		return WriteJSON(w, struct {
			*alerts.Result
			OK bool `json:"ok"`
		}{r, len(r.Failed) == 0})
	}
	tw := table(w)
	for _, c := range r.Applied {
		fmt.Fprintf(tw, "%3s %s\t%s\t%s\n", c.Action.Symbol(), c.DisplayName, c.Key, c.Name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := r.Plan.Counts()
	if len(r.Applied) > 0 {
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintf(w, "Alerts: %d created, %d updated, %d deleted, %d unchanged, %d failed (project %s).\n",
		count(r.Applied, alerts.Create), count(r.Applied, alerts.Update), count(r.Applied, alerts.Delete), c.Unchanged, len(r.Failed), r.Plan.Project)
	return err
}

func count(cs []alerts.Change, a alerts.Action) int {
	n := 0
	for _, c := range cs {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Dashboard renders what dashboard apply did (or would do, with dryRun).
func Dashboard(w io.Writer, f Format, r *dashboard.Result, dryRun bool) error {
	if f == JSON {
		return WriteJSON(w, struct {
			*dashboard.Result
			DryRun bool `json:"dry_run"`
		}{r, dryRun})
	}
	verb := string(r.Action)
	if dryRun && r.Action != dashboard.Unchanged {
		verb = "would be " + verb
	}
	name := r.Name
	if name == "" {
		name = "(new)"
	}
	_, err := fmt.Fprintf(w, "Dashboard %q %s: %s, %d widgets (project %s).\n", r.DisplayName, verb, name, r.Widgets, r.Project)
	return err
}
