package progress

import (
	"bytes"
	"log/slog"
	"testing"
	"time"
)

// Off a terminal, each report is one log line with the counts, and a report with nothing
// new logs nothing; on a terminal the bar is redrawn in place.
func TestReport(t *testing.T) {
	c := New()
	defer c.Release()
	if For(c.Key()) != c || For("") != nil {
		t.Fatal("For does not find the Counters by key")
	}
	var logs bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	r := &Reporter{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: noTime}))}
	c.SetFiles(4)
	r.Report(c.Snapshot())
	c.Read(1500, time.Date(2026, 11, 20, 10, 15, 0, 0, time.UTC).UnixMilli())
	c.Read(500, time.Date(2026, 11, 20, 10, 5, 0, 0, time.UTC).UnixMilli()) // not back in time
	c.FileRead()
	c.BucketClosed()
	r.Report(c.Snapshot())
	r.Report(c.Snapshot())
	want := `level=INFO msg="replay progress" files_read=0 files=4 records=0 read_up_to="" buckets_closed=0
level=INFO msg="replay progress" files_read=1 files=4 records=2000 read_up_to=2026-11-20T10:15:00Z buckets_closed=1
`
	if logs.String() != want {
		t.Errorf("logged\n%s\nwant\n%s", logs.String(), want)
	}

	var term bytes.Buffer
	tty := &Reporter{Out: &term, TTY: true}
	tty.Report(c.Snapshot())
	bar := "\r[#######.......................]  25% 1/4 files, 2000 records, read up to 2026-11-20T10:15:00Z, 1 buckets closed\x1b[K"
	if got := term.String(); got != bar {
		t.Errorf("bar %q, want %q", got, bar)
	}
	// A log line clears the bar and draws it again below.
	term.Reset()
	tty.Logs().Write([]byte("level=INFO msg=x\n"))
	if got, want := term.String(), "\r\x1b[Klevel=INFO msg=x\n"+bar; got != want {
		t.Errorf("a log line on a terminal gives %q, want %q", got, want)
	}
	var none *Counters // a DoFn in another process: nothing happens
	none.SetFiles(1)
	none.Read(1, 1)
	none.FileRead()
	none.BucketClosed()
}

// The file being read counts by the part of its bytes read, so that a replay of one large
// file moves; once it is read, it counts as a file.
func TestPartOfAFile(t *testing.T) {
	c := New()
	defer c.Release()
	c.SetFiles(2)
	c.Reading(250, 1000)
	s := c.Snapshot()
	if got := s.Fraction(); got != 0.125 {
		t.Errorf("a quarter of the first of two files: fraction %v, want 0.125", got)
	}
	if got, want := s.Text(), "0/2 files (the next 25% read), 0 records, read up to -, 0 buckets closed"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	c.FileRead()
	if s := c.Snapshot(); s.Fraction() != 0.5 || s.PartSize != 0 || s.Text() != "1/2 files, 0 records, read up to -, 0 buckets closed" {
		t.Errorf("the first file read: fraction %v, %+v, text %q", s.Fraction(), s, s.Text())
	}
}
