package view

import (
	"fmt"
	"io"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/hours"
	"github.com/eventdelivery/eventdelivery/output"
)

// Hours renders the fleet's hours: a row per event type with its counts, then every
// missing and late hour on a line of its own, then the summary. JSON holds every hour.
func Hours(w io.Writer, f Format, r *hours.Report) error {
	if f == JSON {
		return WriteJSON(w, struct {
			*hours.Report
			Complete bool   `json:"complete"`
			Summary  string `json:"summary"`
		}{r, r.Complete(), r.Summary()})
	}
	tw := table(w)
	fmt.Fprintln(tw, "EVENT TYPE\tCLOSED\tLATE\tOPEN\tMISSING\tRECORDS\tDUPLICATES\tSKEWED\tDEAD LETTERS\tLAST CLOSED")
	for _, et := range r.EventTypes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", et.EventType, et.Closed, et.Late, et.Open, et.Missing,
			et.Records, et.Duplicates, et.Skewed, et.DeadLetters, dash(et.LastClosed))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var lines []string
	for _, et := range r.EventTypes {
		for _, h := range et.Hours {
			switch h.State {
			case hours.Missing:
				lines = append(lines, fmt.Sprintf("missing  %s %s: due %s, no %s", et.EventType, h.Start, h.Due, h.Manifest))
			case hours.Late:
				late := time.Duration(h.LateSeconds * float64(time.Second)).Round(time.Second)
				lines = append(lines, fmt.Sprintf("late     %s %s: closed %s, %s after due", et.EventType, h.Start, h.ClosedAt, late))
			}
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w)
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Summary())
	return err
}

// HoursClosed renders the manifest of an hour `hours wait` saw closed: one line, or the
// manifest itself in JSON.
func HoursClosed(w io.Writer, f Format, path string, m *output.Manifest) error {
	if f == JSON {
		return WriteJSON(w, m)
	}
	_, err := fmt.Fprintf(w, "%s %s closed at %s: %d records in %d files, %d duplicates, %d skewed, %d dead letters (%s)\n",
		m.EventType, m.BucketStart, m.ClosedAt, m.Records, len(m.Files), m.Duplicates, m.Skewed, m.Invalid, path)
	return err
}

// HoursVerification renders what `hours verify` found: every problem on a line of its
// own, then a verdict.
func HoursVerification(w io.Writer, f Format, v *hours.Verification) error {
	if f == JSON {
		return WriteJSON(w, struct {
			*hours.Verification
			OK bool `json:"ok"`
		}{v, v.OK()})
	}
	for _, p := range v.Problems {
		file := p.File
		if file == "" {
			file = v.Manifest
		}
		fmt.Fprintf(w, "%s: %s\n", file, p.Problem)
	}
	if v.OK() {
		_, err := fmt.Fprintf(w, "%s %s: %d files, %d records, as the manifest says.\n", v.EventType, v.Hour, v.Files, v.Records)
		return err
	}
	_, err := fmt.Fprintf(w, "%s %s: %d problems.\n", v.EventType, v.Hour, len(v.Problems))
	return err
}
