// Package progress shows how far a replay has come while it runs: files and records read of
// its input, how far in publish time, buckets closed. The DoFns that read and close add to a
// Counters found by key (they are serialized; where they run in the pipeline's own process,
// as on Prism, the key finds the Counters the process registered), a few times per
// checkpoint rather than per record; the process's Reporter renders them every few
// seconds: on a terminal a one-line bar redrawn in place, otherwise log lines.
package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/inprocess"
)

// Counters is the progress of one run. Its methods do nothing on a nil Counters, so that
// a DoFn whose key is unknown (another process, or no reporter) need not check.
type Counters struct {
	inprocess.Entry
	filesTotal, filesRead   atomic.Int64
	partRead, partSize      atomic.Int64 // bytes of the file being read, read and in all
	records, upTo, bucketsC atomic.Int64
}

var registered = inprocess.NewRegistry[*Counters]("progress")

// New registers Counters in this process under a new key.
func New() *Counters {
	c := &Counters{}
	registered.Register(c, &c.Entry)
	return c
}

// For returns the Counters registered under key in this process, or nil.
func For(key string) *Counters { return registered.Find(key) }

// SetFiles records how many files the input has.
func (c *Counters) SetFiles(n int) {
	if c != nil {
		c.filesTotal.Store(int64(n))
	}
}

// FileRead counts a file read to its end.
func (c *Counters) FileRead() {
	if c != nil {
		c.partRead.Store(0)
		c.partSize.Store(0)
		c.filesRead.Add(1)
	}
}

// Reading records how far the file being read has come: read of its size bytes, so that a
// replay of one large file moves too.
func (c *Counters) Reading(read, size int64) {
	if c != nil {
		c.partSize.Store(size)
		c.partRead.Store(read)
	}
}

// Read counts n more records read, the latest published at upToMs (Unix ms; 0: unknown).
func (c *Counters) Read(n int64, upToMs int64) {
	if c == nil {
		return
	}
	c.records.Add(n)
	for old := c.upTo.Load(); upToMs > old && !c.upTo.CompareAndSwap(old, upToMs); old = c.upTo.Load() {
	}
}

// BucketClosed counts a bucket closed.
func (c *Counters) BucketClosed() {
	if c != nil {
		c.bucketsC.Add(1)
	}
}

// Snapshot is the progress at one moment.
type Snapshot struct {
	FilesTotal, FilesRead int64
	// PartRead and PartSize are the bytes read of the file being read, and its size (0:
	// none being read, or its size unknown).
	PartRead, PartSize int64
	Records            int64
	UpTo               int64 // latest publish time read, Unix ms; 0 before the first
	BucketsClosed      int64
}

// Snapshot reads c.
func (c *Counters) Snapshot() Snapshot {
	return Snapshot{FilesTotal: c.filesTotal.Load(), FilesRead: c.filesRead.Load(), PartRead: c.partRead.Load(), PartSize: c.partSize.Load(), Records: c.records.Load(), UpTo: c.upTo.Load(), BucketsClosed: c.bucketsC.Load()}
}

// Fraction is the share of the input read, 0 to 1: its files read, and the part read of
// the one being read, each file counting the same.
func (s Snapshot) Fraction() float64 {
	if s.FilesTotal == 0 {
		return 0
	}
	return min(1, (float64(s.FilesRead)+s.part())/float64(s.FilesTotal))
}

// part is the share read of the file being read, 0 to 1.
func (s Snapshot) part() float64 {
	if s.PartSize <= 0 {
		return 0
	}
	return min(1, float64(s.PartRead)/float64(s.PartSize))
}

// Text is the progress in words, as the bar shows it after the bar itself.
func (s Snapshot) Text() string {
	up := "-"
	if s.UpTo != 0 {
		up = time.UnixMilli(s.UpTo).UTC().Format(time.RFC3339)
	}
	files := fmt.Sprintf("%d/%d files", s.FilesRead, s.FilesTotal)
	if s.PartSize > 0 {
		files += fmt.Sprintf(" (the next %.0f%% read)", 100*s.part())
	}
	return fmt.Sprintf("%s, %d records, read up to %s, %d buckets closed", files, s.Records, up, s.BucketsClosed)
}

// Bar renders s as a one-line bar of width cells and the text.
func (s Snapshot) Bar(width int) string {
	done := int(s.Fraction() * float64(width))
	return fmt.Sprintf("[%s%s] %3.0f%% %s", strings.Repeat("#", done), strings.Repeat(".", width-done), 100*s.Fraction(), s.Text())
}

// Attrs are the log attributes of s.
func (s Snapshot) Attrs() []any {
	up := ""
	if s.UpTo != 0 {
		up = time.UnixMilli(s.UpTo).UTC().Format(time.RFC3339)
	}
	attrs := []any{"files_read", s.FilesRead, "files", s.FilesTotal}
	if s.PartSize > 0 {
		attrs = append(attrs, "file_bytes_read", s.PartRead, "file_bytes", s.PartSize)
	}
	return append(attrs, "records", s.Records, "read_up_to", up, "buckets_closed", s.BucketsClosed)
}

// Reporter renders Counters as they change.
type Reporter struct {
	Out   io.Writer    // where the bar is drawn (stderr), when TTY
	TTY   bool         // Out is a terminal: a bar redrawn in place; else log lines to Log
	Log   *slog.Logger // nil: slog.Default()
	Every time.Duration
	mu    sync.Mutex // guards Out between the bar and Logs
	last  Snapshot
	drawn bool
	bar   string // the bar last drawn, on a terminal
}

// Report renders s once: on a terminal it redraws the bar; otherwise it logs a line, unless
// nothing changed since the last.
func (r *Reporter) Report(s Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.TTY:
		r.bar = s.Bar(30)
		fmt.Fprintf(r.Out, "\r%s\x1b[K", r.bar)
		r.drawn = true
	case s != r.last || !r.drawn:
		log := r.Log
		if log == nil {
			log = slog.Default()
		}
		log.Info("replay progress", s.Attrs()...)
		r.drawn = true
	}
	r.last = s
}

// Logs returns a writer for log lines to r.Out that, on a terminal, clears the bar before
// each line and draws it again after, so that the two do not run into each other.
func (r *Reporter) Logs() io.Writer { return logWriter{r} }

type logWriter struct{ r *Reporter }

func (w logWriter) Write(p []byte) (int, error) {
	r := w.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.TTY || r.bar == "" {
		return r.Out.Write(p)
	}
	fmt.Fprint(r.Out, "\r\x1b[K")
	n, err := r.Out.Write(p)
	fmt.Fprintf(r.Out, "\r%s\x1b[K", r.bar)
	return n, err
}

// Run reports c every r.Every until ctx is done, then once more, ending the bar's line.
func (r *Reporter) Run(ctx context.Context, c *Counters) {
	tick := time.NewTicker(r.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Report(c.Snapshot())
			if r.TTY {
				r.mu.Lock()
				fmt.Fprintln(r.Out)
				r.bar = ""
				r.mu.Unlock()
			}
			return
		case <-tick.C:
			r.Report(c.Snapshot())
		}
	}
}
