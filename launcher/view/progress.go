package view

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
)

// Progress renders the progress of a deploy, a rollout or a rollback (deploy.Options.Progress,
// rollout.Options.Progress) to w (stderr) as it happens: the one renderer of the one event
// type. The engine's phases (the launches, the wait for RUNNING) are a bar redrawn in place
// when w is a terminal, and one plain line per job otherwise (logs, CI); a rollout's steps
// are one line each (rolloutLine). Within a rollout, off a terminal, the engine's jobs that
// went well are left to the rollout's own line for each (which names the versions), so that
// a log has one line a job; its failures and phases are still told.
func Progress(w io.Writer, terminal bool) func(deploy.Event) {
	p := &progress{w: w, terminal: terminal, width: 30}
	return p.tell
}

// progress is the renderer's state: the engine's phase in progress. One mutex guards it,
// since the engine tells the steps of its concurrent launches.
type progress struct {
	mu                  sync.Mutex
	w                   io.Writer
	terminal            bool
	width               int
	phase               string
	done, failed, total int
	started             time.Time
	failures            []string
	rollout             bool // a rollout's own steps have been told
}

func (p *progress) tell(e deploy.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case deploy.EventPhase:
		p.phase, p.done, p.failed, p.total, p.started, p.failures = e.Phase, 0, 0, e.Count, time.Now(), nil
		if p.terminal {
			p.draw()
		} else if p.total > 0 {
			fmt.Fprintf(p.w, "%s: %d jobs\n", p.phase, p.total)
		}
	case deploy.EventStep:
		outcome, ok := stepOutcome(e.Phase, e.Item)
		p.done++
		if !ok {
			p.failed++
			p.failures = append(p.failures, e.Item.JobName+": "+outcome)
		}
		if p.terminal {
			p.draw()
			return
		}
		mark := "ok"
		if !ok {
			mark = "FAILED"
		} else if p.rollout {
			return
		}
		fmt.Fprintf(p.w, "[%*d/%d] %s %s: %s\n", len(fmt.Sprint(p.total)), p.done, p.total, mark, e.Item.JobName, outcome)
	case deploy.EventPhaseDone:
		if !p.terminal || p.total == 0 {
			return
		}
		p.draw()
		fmt.Fprintln(p.w)
		for _, f := range p.failures {
			fmt.Fprintln(p.w, "  failed", f)
		}
	default:
		p.rollout = true
		rolloutLine(p.w, e)
	}
}

// stepOutcome is what a job's step of the engine's phase came to, and whether it went
// well: `create j1` (recognised after an error) or `create: <error>` for a launch or
// drain, `running` or the state it stopped in for the wait.
func stepOutcome(phase string, it *deploy.ItemResult) (string, bool) {
	if phase == deploy.PhaseWait {
		if it.Status == deploy.Running {
			return "running", true
		}
		return string(it.State), false
	}
	if it.Status == deploy.Failed {
		return string(it.Action) + ": " + it.Error, false
	}
	s := string(it.Action) + " " + it.JobID
	if it.Recognised {
		s += " (recognised after an error)"
	}
	return s, true
}

func (p *progress) draw() {
	if p.total == 0 {
		return
	}
	filled := p.width * p.done / p.total
	failed := ""
	if p.failed > 0 {
		failed = fmt.Sprintf(", %d failed", p.failed)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%-16s [%s%s] %d/%d%s %s", p.phase,
		strings.Repeat("=", filled), strings.Repeat(" ", p.width-filled), p.done, p.total, failed,
		time.Since(p.started).Round(time.Second))
}
