package rollout

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable renders a result for people: one line per wave, the jobs that were acted
// on, and the summary.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Waves) > 0 {
		fmt.Fprintln(tw, "WAVE\tEVENT TYPES\tCHANGED\tOUTCOME")
		for _, wv := range r.Waves {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", wv.Name, len(wv.EventTypes), wv.Changed, wv.Outcome)
		}
		fmt.Fprintln(tw)
	}
	items := append(append([]Item{}, r.Items...), r.RolledBack...)
	if len(items) > 0 {
		fmt.Fprintln(tw, "JOB\tWAVE\tACTION\tFROM\tTO\tSTATUS\tJOB ID\tERROR")
		for _, it := range items {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", it.JobName, it.Wave, it.Action, it.From, it.To, it.Status, it.JobID, it.Error)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// WriteJSON renders a result for programs.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if r.Items == nil {
		r.Items = []Item{}
	}
	if r.RolledBack == nil {
		r.RolledBack = []Item{}
	}
	if r.Waves == nil {
		r.Waves = []Wave{}
	}
	return enc.Encode(r)
}
