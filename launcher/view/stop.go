package view

import (
	"fmt"
	"io"
	"strings"

	"github.com/eventdelivery/eventdelivery/launcher/stopjobs"
)

// CancelWarning tells a person, before a cancel, that data in flight is lost.
func CancelWarning(w io.Writer) {
	fmt.Fprintln(w, "WARNING:", stopjobs.CancelWarning)
}

// StopPrompt lists the jobs drain or cancel is about to stop and asks for a typed yes.
func StopPrompt(w io.Writer, mode stopjobs.Mode, fleet string, ts []stopjobs.Target) {
	for _, t := range ts {
		if t.Skip == "" {
			fmt.Fprintf(w, "  %s  %s/%s  %s\n", t.JobName, t.Project, t.Region, t.JobID)
		}
	}
	fmt.Fprintf(w, "%s these %d jobs of fleet %s? Type yes to confirm: ", title(mode), stopjobs.Count(ts), fleet)
}

// title is mode with a capital first letter: Drain, Cancel.
func title(mode stopjobs.Mode) string { return strings.ToUpper(string(mode[:1])) + string(mode[1:]) }

// Stop renders the outcome of drain or cancel: one line per target, then a summary.
func Stop(w io.Writer, f Format, mode stopjobs.Mode, ts []stopjobs.Target) error {
	if f == JSON {
		return WriteJSON(w, struct {
			Jobs []stopjobs.Target `json:"jobs"`
			Mode stopjobs.Mode     `json:"mode"`
		}{nonNil(ts), mode})
	}
	tw := table(w)
	fmt.Fprintln(tw, "JOB\tPROJECT/REGION\tJOB ID\tRESULT")
	done, skipped := 0, 0
	for _, t := range ts {
		res := t.Result
		if t.Skip != "" {
			res, skipped = "skipped: "+t.Skip, skipped+1
		} else if t.OK {
			done++
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\n", t.JobName, t.Project, t.Region, t.JobID, res)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verb := map[stopjobs.Mode]string{stopjobs.Drain: "draining", stopjobs.Cancel: "cancelling"}[mode]
	_, err := fmt.Fprintf(w, "\n%s: %d %s, %d skipped, %d failed.\n", title(mode), done, verb, skipped, len(ts)-done-skipped)
	return err
}
