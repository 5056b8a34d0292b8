package view_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/rollout"
	"github.com/eventdelivery/eventdelivery/launcher/view"
)

// tellPhase tells p an apply phase of total jobs in which events-a was created as j1 and
// events-b failed to launch with boom.
func tellPhase(p func(deploy.Event), total int) {
	p(deploy.Event{Kind: deploy.EventPhase, Phase: deploy.PhaseApply, Count: total})
	p(deploy.Event{Kind: deploy.EventStep, Phase: deploy.PhaseApply, Item: &deploy.ItemResult{JobName: "events-a", Action: plan.Create, Status: deploy.Started, JobID: "j1"}})
	p(deploy.Event{Kind: deploy.EventStep, Phase: deploy.PhaseApply, Item: &deploy.ItemResult{JobName: "events-b", Action: plan.Create, Status: deploy.Failed, Error: "boom"}})
	p(deploy.Event{Kind: deploy.EventPhaseDone, Phase: deploy.PhaseApply})
}

func TestProgress(t *testing.T) {
	var lines bytes.Buffer
	tellPhase(view.Progress(&lines, false), 12)
	if want := "apply: 12 jobs\n[ 1/12] ok events-a: create j1\n[ 2/12] FAILED events-b: create: boom\n"; lines.String() != want {
		t.Errorf("lines:\n%q\nwant\n%q", lines.String(), want)
	}
	var bar bytes.Buffer
	tellPhase(view.Progress(&bar, true), 2)
	out := bar.String()
	if !strings.Contains(out, "\r\x1b[K") || !strings.Contains(out, "[==============================] 2/2, 1 failed") ||
		!strings.Contains(out, "  failed events-b: create: boom\n") {
		t.Errorf("bar: %q", out)
	}
}

// TestProgressWithinARollout: off a terminal, a rollout's log has one line a job (the
// rollout's own, with the versions); the engine's phases and failures are still told.
func TestProgressWithinARollout(t *testing.T) {
	var lines bytes.Buffer
	p := view.Progress(&lines, false)
	p(deploy.Event{Kind: rollout.EventWave, Wave: "1/2 (canaries)", Count: 2, Of: 2})
	tellPhase(p, 2)
	out := lines.String()
	if !strings.Contains(out, "apply: 2 jobs\n") || !strings.Contains(out, "[2/2] FAILED events-b: create: boom\n") {
		t.Errorf("the phase or the failure is missing:\n%s", out)
	}
	if strings.Contains(out, "ok events-a") {
		t.Errorf("the engine's line for a job that went well is there too:\n%s", out)
	}
}
