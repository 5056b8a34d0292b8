package view_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/view"
)

func TestProgress(t *testing.T) {
	var lines bytes.Buffer
	p := view.DeployProgress(&lines, false)
	p.Start("apply", 12)
	p.Step("events-a", "create j1", true)
	p.Step("events-b", "create: boom", false)
	p.Finish()
	if want := "apply: 12 jobs\n[ 1/12] ok events-a: create j1\n[ 2/12] FAILED events-b: create: boom\n"; lines.String() != want {
		t.Errorf("lines:\n%q\nwant\n%q", lines.String(), want)
	}
	var bar bytes.Buffer
	p = view.DeployProgress(&bar, true)
	p.Start("apply", 2)
	p.Step("events-a", "create j1", true)
	p.Step("events-b", "create: boom", false)
	p.Finish()
	out := bar.String()
	if !strings.Contains(out, "\r\x1b[K") || !strings.Contains(out, "[==============================] 2/2, 1 failed") ||
		!strings.Contains(out, "  failed events-b: create: boom\n") {
		t.Errorf("bar: %q", out)
	}
}
