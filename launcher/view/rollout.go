package view

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/rollout"
)

// Rollout renders the result of rollout or rollback: one line per wave, the jobs that were
// acted on (in the one item shape of a deploy's, with their wave), and the summary. The
// JSON lists empty waves and items as [], on a copy: r is only read.
func Rollout(w io.Writer, f Format, r *rollout.Result) error {
	if f == JSON {
		out := *r
		out.Items = nonNil(out.Items)
		out.RolledBack = nonNil(out.RolledBack)
		out.Waves = nonNil(out.Waves)
		return WriteJSON(w, &out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
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
	var items []deploy.ItemResult
	for _, it := range append(slices.Clone(r.Items), r.RolledBack...) {
		items = append(items, it.ItemResult)
	}
	if err := itemTable(w, items); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}
