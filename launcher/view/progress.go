package view

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/deploy"
)

// DeployProgress renders a deploy's progress (deploy.Options.Progress) to w (stderr): a
// bar redrawn in place when w is a terminal, and one plain line per step otherwise (logs,
// CI).
func DeployProgress(w io.Writer, terminal bool) deploy.Progress {
	if terminal {
		return &bar{w: w, width: 30}
	}
	return &lines{w: w}
}

type lines struct {
	mu          sync.Mutex
	w           io.Writer
	phase       string
	done, total int
}

func (l *lines) Start(phase string, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase, l.done, l.total = phase, 0, total
	if total > 0 {
		fmt.Fprintf(l.w, "%s: %d jobs\n", phase, total)
	}
}

func (l *lines) Step(name, outcome string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done++
	mark := "ok"
	if !ok {
		mark = "FAILED"
	}
	fmt.Fprintf(l.w, "[%*d/%d] %s %s: %s\n", len(fmt.Sprint(l.total)), l.done, l.total, mark, name, outcome)
}

func (l *lines) Finish() {}

type bar struct {
	mu                  sync.Mutex
	w                   io.Writer
	width               int
	phase               string
	done, failed, total int
	started             time.Time
	failures            []string
}

func (b *bar) Start(phase string, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.phase, b.done, b.failed, b.total, b.started, b.failures = phase, 0, 0, total, time.Now(), nil
	b.draw()
}

func (b *bar) Step(name, outcome string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done++
	if !ok {
		b.failed++
		b.failures = append(b.failures, name+": "+outcome)
	}
	b.draw()
}

func (b *bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total == 0 {
		return
	}
	b.draw()
	fmt.Fprintln(b.w)
	for _, f := range b.failures {
		fmt.Fprintln(b.w, "  failed", f)
	}
}

func (b *bar) draw() {
	if b.total == 0 {
		return
	}
	filled := b.width * b.done / b.total
	failed := ""
	if b.failed > 0 {
		failed = fmt.Sprintf(", %d failed", b.failed)
	}
	fmt.Fprintf(b.w, "\r\x1b[K%-16s [%s%s] %d/%d%s %s", b.phase,
		strings.Repeat("=", filled), strings.Repeat(" ", b.width-filled), b.done, b.total, failed,
		time.Since(b.started).Round(time.Second))
}
