package main

import (
	"context"
	"fmt"
	"github.com/eventdelivery/eventdelivery/internal/testkit/poll"
	"github.com/eventdelivery/eventdelivery/output"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/internal/testkit/livegen"
	"github.com/eventdelivery/eventdelivery/internal/testkit/outputtree"
)

// liveRun is the pipeline binary reading a subscription of the emulator into out.
type liveRun struct {
	id   string
	cmd  *exec.Cmd
	log  string
	done chan error
}

// startRun starts the binary with run id id; env adds variables (fault injection).
func startRun(t *testing.T, emu *pubsubemu.Emulator, sub, out, id string, env ...string) *liveRun {
	t.Helper()
	r := &liveRun{id: id, log: filepath.Join(t.TempDir(), id+".log"), done: make(chan error, 1)}
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(binary, "--event_type=play-track", "--schema="+schemaFile, "--subscription="+sub,
		"--output="+out, "--bucket_width=5s", "--skew_tolerance=5s", "--max_future=2s",
		"--bucket_time=field:client_time", "--file_records=20", "--lookback=1h", "--run_id="+id)
	r.cmd.Env = append(append(os.Environ(), "TMPDIR="+t.TempDir(), emu.Env()), env...)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.done <- r.cmd.Wait()
		logf.Close()
	}()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		if t.Failed() {
			log, _ := os.ReadFile(r.log)
			t.Logf("%s: the last lines of its log:\n%s", r.id, tail(log, 30))
		}
	})
	return r
}

// kill sends SIGKILL, as an OOM kill or a lost machine would, and waits for the process.
func (r *liveRun) kill(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	t.Logf("%s killed", r.id)
}

// died waits for the run to end by itself (a fault it injected) within d.
func (r *liveRun) died(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-r.done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("%s ended with %v, want killed by its injected crash", r.id, err)
		}
		t.Logf("%s crashed as injected", r.id)
	case <-time.After(d):
		t.Fatalf("%s did not crash within %v", r.id, d)
	}
}

// stop stops the run gracefully (SIGINT) and wants exit 0.
func (r *liveRun) stop(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-r.done:
		if err != nil {
			log, _ := os.ReadFile(r.log)
			t.Fatalf("%s: exit after SIGINT: %v\n%s", r.id, err, log)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s did not stop within a minute of SIGINT", r.id)
	}
}

// objects returns every object under out by path relative to it.
func objects(t *testing.T, out string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(out, p)
		m[rel] = b
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return m
}

// manifests returns the manifests under out.
func manifests(t *testing.T, out string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for name, b := range objects(t, out) {
		if filepath.Base(name) == "_SUCCESS" {
			m[name] = b
		}
	}
	return m
}

// ownFile reports whether name is a data file of run.
func ownFile(name, run string) bool {
	r, _, _, ok := output.ParseFileName(name)
	return ok && r == run
}

// openFileOf reports whether run wrote a data file into a bucket that is still open.
func openFileOf(out, run string) bool {
	found := false
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && ownFile(d.Name(), run) && !strings.Contains(p, "_deadletter") {
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), "_SUCCESS")); os.IsNotExist(err) {
				found = true
			}
		}
		return nil
	})
	return found
}

// stream is a live stream being published.
type stream struct {
	done      chan struct{}
	published atomic.Int64 // events published so far
	events    []livegen.Event
	err       error
}

// waitPublished waits until n more events than now have been published: the pipeline then
// holds events it read and has not written yet.
func (st *stream) waitPublished(t *testing.T, n int64) {
	t.Helper()
	want := st.published.Load() + n
	poll.Until(t, time.Minute, fmt.Sprintf("%d more events published", n), func() bool { return st.published.Load() >= want })
}

func publishStream(t *testing.T, emu *pubsubemu.Emulator, topic string, spec livegen.Spec) *stream {
	t.Helper()
	c, err := emu.Client(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	st := &stream{done: make(chan struct{})}
	go func() {
		defer close(st.done)
		defer c.Close()
		st.events, st.err = livegen.Publish(context.Background(), c, topic, spec, func(done int) { st.published.Store(int64(done)) })
	}()
	return st
}

// settle waits until every valid event published is in the output and every bucket that
// holds files is closed, then stops r gracefully.
func settle(t *testing.T, r *liveRun, out string, st *stream) {
	t.Helper()
	<-st.done
	if st.err != nil {
		t.Fatal(st.err)
	}
	var missing, open []string
	var readErr error
	settled := func() bool {
		missing, open = nil, nil
		tree, err := outputtree.Read(context.Background(), out, "play-track")
		if readErr = err; err != nil {
			return false
		}
		where := written(tree)
		for _, e := range st.events {
			if e.EventID != "" && len(where[e.EventID]) == 0 {
				missing = append(missing, e.EventID)
			}
		}
		for _, d := range tree.Dirs() {
			if b := tree.Buckets[d]; b.Manifest == nil && len(b.Files) > 0 {
				open = append(open, d)
			}
		}
		return len(missing) == 0 && len(open) == 0
	}
	poll.Until(t, 2*time.Minute, "every event in a closed bucket", settled, func() string {
		log, _ := os.ReadFile(r.log)
		return fmt.Sprintf("%d missing (%.5v), open %v, read error %v\n%s", len(missing), missing, open, readErr, tail(log, 40))
	})
	r.stop(t)
}

// written returns, per event id, the files that hold it (once per record), as bucket/file.
func written(tree *outputtree.Tree) map[string][]string {
	out := map[string][]string{}
	for _, d := range tree.Dirs() {
		for name, recs := range tree.Buckets[d].Files {
			for _, r := range recs {
				id := r["event_id"].(string)
				out[id] = append(out[id], d+"/"+name)
			}
		}
	}
	return out
}

// checkExactlyOnce checks the final output against what was published: every valid event
// exactly once in a closed bucket, every invalid message in dead letter once, counts that
// add up, no manifest changed since it was first seen, and a tree that keeps the contract.
func checkExactlyOnce(t *testing.T, out string, st *stream, seen map[string][]byte) {
	t.Helper()
	tree, err := outputtree.Read(context.Background(), out, "play-track")
	if err != nil {
		t.Fatal(err)
	}
	if problems := tree.Check(); len(problems) > 0 {
		t.Errorf("output breaks the contract: %v", problems)
	}
	where := written(tree)
	var valid, invalid, missing, twice, retries int
	for _, e := range st.events {
		if e.EventID == "" {
			invalid++
			continue
		}
		valid++
		retries += len(e.MessageIDs) - 1
		switch n := len(where[e.EventID]); {
		case n == 0:
			missing++
		case n > 1:
			twice++
			if twice <= 5 {
				t.Errorf("event %s written %d times: %v", e.EventID, n, where[e.EventID])
			}
		}
	}
	if missing > 0 || twice > 0 {
		t.Errorf("of %d valid events: %d lost, %d written more than once", valid, missing, twice)
	}
	var records, invalidCounted int64
	for _, d := range tree.Dirs() {
		b := tree.Buckets[d]
		if b.Manifest == nil {
			if len(b.Files) > 0 {
				t.Errorf("%s holds files but is not closed", d)
			}
			continue
		}
		records += b.Manifest.Records
		invalidCounted += b.Manifest.Invalid
	}
	if records != int64(valid) {
		t.Errorf("manifests count %d records, want %d (one per valid event)", records, valid)
	}
	dead := map[string]int{}
	for _, recs := range tree.DeadLetters {
		for _, r := range recs {
			dead[r["message_id"].(string)]++
		}
	}
	for _, e := range st.events {
		if e.EventID == "" && dead[e.MessageIDs[0]] != 1 {
			t.Errorf("invalid message %s is %d times in dead letter, want once", e.MessageIDs[0], dead[e.MessageIDs[0]])
		}
	}
	if invalidCounted != int64(invalid) {
		t.Errorf("manifests count %d invalid, published %d", invalidCounted, invalid)
	}
	final := manifests(t, out)
	for name, b := range seen {
		if string(final[name]) != string(b) {
			t.Errorf("manifest %s changed after it was written", name)
		}
	}
	if retries == 0 || invalid == 0 || len(tree.Buckets) < 4 {
		t.Errorf("%d retries, %d invalid, %d buckets: the test did not exercise enough", retries, invalid, len(tree.Buckets))
	}
	t.Logf("%d valid events (%d client retries), %d invalid; %d buckets, %d records, %d manifests seen before the end", valid, retries, invalid, len(tree.Buckets), records, len(seen))
}

// remember adds the manifests now under out to seen, keeping the first version of each.
func remember(t *testing.T, out string, seen map[string][]byte) {
	for name, b := range manifests(t, out) {
		if _, ok := seen[name]; !ok {
			seen[name] = b
		}
	}
}

// TestCrashLoopLosesNothing kills the pipeline three times in one live stream, each time at
// another point (while publishing, just after a bucket's files are written, in the middle
// of a manifest write), restarting it each time with a new run id, and checks that every
// event published lands exactly once in a closed bucket. Client retries come 3s after their
// first message, so they straddle every crash.
func TestCrashLoopLosesNothing(t *testing.T) {
	emu := pubsubemu.ForTest(t)
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	out := t.TempDir()
	seen := map[string][]byte{}
	st := publishStream(t, emu, names.Topic, livegen.Spec{
		Events: 4000, Rate: 100, Retries: 0.05, RetryAfter: 3 * time.Second, Skewed: 0.02, SkewBy: 20 * time.Second, Invalid: 0.02, Seed: 13,
	})

	// 1. While publishing: once it has closed a bucket, mid-stream.
	r1 := startRun(t, emu, names.Subscription, out, "crash1")
	poll.Until(t, time.Minute, "crash1 closes a bucket", func() bool { return len(manifests(t, out)) > 0 })
	st.waitPublished(t, 150) // mid-bucket, with events read and not yet written
	r1.kill(t)
	remember(t, out, seen)

	// 2. Just after it wrote a data file into a bucket still open.
	r2 := startRun(t, emu, names.Subscription, out, "crash2")
	poll.Until(t, time.Minute, "crash2 writes into an open bucket", func() bool { return openFileOf(out, "crash2") })
	r2.kill(t)
	remember(t, out, seen)

	// 3. In the middle of writing a manifest: written aside, not yet renamed into place.
	r3 := startRun(t, emu, names.Subscription, out, "crash3", objstore.CrashEnv+"=_SUCCESS")
	r3.died(t, time.Minute)
	remember(t, out, seen)
	torn := 0
	for name := range objects(t, out) {
		if strings.HasPrefix(filepath.Base(name), ".tmp-_SUCCESS") {
			torn++
		}
	}
	if torn == 0 {
		t.Errorf("crash3 left no half-written manifest: the fault was not where it should be")
	}

	// The last run takes over and stays to the end.
	r4 := startRun(t, emu, names.Subscription, out, "final")
	settle(t, r4, out, st)
	checkExactlyOnce(t, out, st, seen)
}

// TestGracefulHandoverWritesRetriesOnce stops a live run gracefully mid-stream and starts its
// successor while client retries (same event id, new message id) of events the first run
// wrote keep arriving: the successor counts them as duplicates, never writes them again.
func TestGracefulHandoverWritesRetriesOnce(t *testing.T) {
	emu := pubsubemu.ForTest(t)
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	out := t.TempDir()
	seen := map[string][]byte{}
	st := publishStream(t, emu, names.Topic, livegen.Spec{
		Events: 2500, Rate: 100, Retries: 0.2, RetryAfter: 2 * time.Second, Invalid: 0.02, Seed: 21,
	})
	r1 := startRun(t, emu, names.Subscription, out, "first")
	poll.Until(t, time.Minute, "first closes a bucket", func() bool { return len(manifests(t, out)) > 0 })
	st.waitPublished(t, 200)
	r1.stop(t)
	remember(t, out, seen)
	r2 := startRun(t, emu, names.Subscription, out, "second")
	settle(t, r2, out, st)
	checkExactlyOnce(t, out, st, seen)

	tree, err := outputtree.Read(context.Background(), out, "play-track")
	if err != nil {
		t.Fatal(err)
	}
	var dupSecond int64
	for _, d := range tree.Dirs() {
		if m := tree.Buckets[d].Manifest; m != nil && m.RunID == "second" {
			dupSecond += m.Duplicates
		}
	}
	if dupSecond == 0 {
		t.Errorf("the second run counted no duplicates: no retry straddled the stop")
	}
}

// tail returns the last n lines of log.
func tail(log []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
