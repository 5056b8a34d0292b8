package delivery

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/internal/stop"
	"github.com/eventdelivery/eventdelivery/internal/testkit/livegen"
	"github.com/eventdelivery/eventdelivery/internal/testkit/outputtree"
	"github.com/eventdelivery/eventdelivery/output"
)

// liveConfig is testConfig reading a subscription of the Pub/Sub emulator, with 10s buckets
// closing 5s after they end, on the wall clock.
func liveConfig(t *testing.T, sub string) Config {
	cfg := testConfig(t)
	cfg.Subscription, cfg.NowMs, cfg.Lookback = sub, 0, time.Hour
	cfg.Layout = output.Layout{Width: 10 * time.Second, Skew: 5 * time.Second, MaxFuture: 2 * time.Second}
	return cfg
}

// liveRun is a live pipeline running on Prism in this process until stopped.
type liveRun struct {
	stopper *stop.Stopper
	done    chan error
}

func startLive(t *testing.T, cfg Config) *liveRun {
	t.Helper()
	r := &liveRun{stopper: stop.New(), done: make(chan error, 1)}
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, r.stopper)
	go func() {
		_, err := beam.Run(context.Background(), "prism", p)
		r.done <- err
	}()
	return r
}

// stop stops the run gracefully and waits for it to end.
func (r *liveRun) stop(t *testing.T) {
	t.Helper()
	r.stopper.Stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("live pipeline failed: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("live pipeline did not stop within 2 minutes")
	}
	r.stopper.Release()
}

// waitClosed polls until bucket start has a manifest.
func waitClosed(t *testing.T, cfg Config, start int64, within time.Duration) {
	t.Helper()
	path := cfg.Target().ManifestPath(start)
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket %s not closed within %v", output.Format(start), within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eventsByBucket returns, for each event id, the bucket folders holding it.
func eventsByBucket(tree *outputtree.Tree) map[string][]string {
	out := map[string][]string{}
	for _, d := range tree.Dirs() {
		for _, id := range ids(tree.Buckets[d]) {
			out[id] = append(out[id], d)
		}
	}
	return out
}

// TestLiveEndToEnd publishes 5,000 events in real time over several buckets, with client
// retries, Pub/Sub redeliveries (nacks), skewed clocks and invalid messages, through the
// real Pub/Sub emulator and the pipeline on Prism, and checks every one in the output.
func TestLiveEndToEnd(t *testing.T) {
	emu := pubsubemu.ForTest(t)
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	cfg := liveConfig(t, names.Subscription)
	cfg.RunID = "live"
	run := startLive(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := emu.Client(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var nacker livegen.Nacker
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := nacker.Run(ctx, c, names.Subscription, 250, 50*time.Millisecond); err != nil {
			t.Errorf("nacker: %v", err)
		}
	}()
	events, err := livegen.Publish(ctx, c, names.Topic, livegen.Spec{
		Events: 5000, Rate: 110, Retries: 0.05, Skewed: 0.03, SkewBy: 30 * time.Second, Invalid: 0.02, Seed: 42,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	last := events[len(events)-1].Sent.UnixMilli()
	waitClosed(t, cfg, cfg.Layout.Start(last), time.Minute)
	run.stop(t)

	tree := readTree(t, cfg)
	nacked := nacker.Nacked()
	where := eventsByBucket(tree)
	var valid, skewed, invalid, retries, missing, twice, misplaced, nackedEvents int
	invalidIDs := map[string]bool{}
	dirOf := func(ms int64) string { return cfg.Layout.Dir("", cfg.Layout.Start(ms))[1:] }
	for _, e := range events {
		if e.EventID == "" {
			invalid++
			invalidIDs[e.MessageIDs[0]] = true
			continue
		}
		valid++
		retries += len(e.MessageIDs) - 1
		for _, id := range e.MessageIDs {
			if nacked[id] {
				nackedEvents++
				break
			}
		}
		dirs := where[e.EventID]
		switch {
		case len(dirs) == 0:
			missing++
		case len(dirs) > 1:
			twice++
		case e.Skewed:
			// The bucket of p − L; p is the emulator's publish time, just after Sent.
			skewed++
			p := e.Sent.UnixMilli() - cfg.Layout.Skew.Milliseconds()
			if dirs[0] != dirOf(p) && dirs[0] != dirOf(p+cfg.Layout.Width.Milliseconds()) {
				misplaced++
			}
		case dirs[0] != dirOf(e.ClientTime.UnixMilli()):
			misplaced++
		}
	}
	if missing > 0 || twice > 0 || misplaced > 0 {
		t.Errorf("of %d valid events: %d missing, %d written twice, %d in the wrong bucket", valid, missing, twice, misplaced)
	}
	var m output.Manifest
	for _, d := range tree.Dirs() {
		b := tree.Buckets[d]
		if b.Manifest == nil {
			t.Errorf("%s is still open", d)
			continue
		}
		m.Records += b.Manifest.Records
		m.Duplicates += b.Manifest.Duplicates
		m.Skewed += b.Manifest.Skewed
		m.Invalid += b.Manifest.Invalid
	}
	dead := map[string]bool{}
	for _, recs := range tree.DeadLetters {
		for _, r := range recs {
			dead[r["message_id"].(string)] = true
		}
	}
	for id := range invalidIDs {
		if !dead[id] {
			t.Errorf("invalid message %s is not in dead letter", id)
		}
	}
	if int(m.Invalid) != invalid || len(dead) != invalid {
		t.Errorf("manifests count %d invalid, dead letters hold %d, published %d", m.Invalid, len(dead), invalid)
	}
	if int(m.Skewed) < skewed || int(m.Duplicates) != retries {
		t.Errorf("manifests: %d skewed (want ≥ %d), %d duplicates (%d retries published)", m.Skewed, skewed, m.Duplicates, retries)
	}
	if len(tree.Buckets) < 4 || nackedEvents == 0 || retries == 0 || skewed == 0 {
		t.Errorf("%d buckets, %d nacked messages: the test did not exercise enough", len(tree.Buckets), len(nacked))
	}
	t.Logf("%d valid events (%d retries, %d skewed, %d redelivered after a nack), %d invalid, %d buckets, %d records", valid, retries, skewed, nackedEvents, invalid, len(tree.Buckets), m.Records)
}

// TestLiveStopAndRestart stops a live run gracefully mid-stream and starts another on the same
// subscription and output: every event is delivered once, the buckets the first run closed
// never change, and the bucket it left open is closed by the second run with its files.
func TestLiveStopAndRestart(t *testing.T) {
	emu := pubsubemu.ForTest(t)
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	cfg1 := liveConfig(t, names.Subscription)
	cfg1.RunID = "first"
	cfg2 := cfg1
	cfg2.RunID = "second"

	ctx := context.Background()
	c, err := emu.Client(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type published struct {
		events []livegen.Event
		err    error
	}
	pubDone := make(chan published, 1)
	go func() {
		ev, err := livegen.Publish(ctx, c, names.Topic, livegen.Spec{Events: 3000, Rate: 100, Retries: 0.05, Invalid: 0.01, Seed: 7}, nil)
		pubDone <- published{ev, err}
	}()

	run1 := startLive(t, cfg1)
	firstBucket := cfg1.Layout.Start(time.Now().UnixMilli())
	waitClosed(t, cfg1, firstBucket, time.Minute)
	run1.stop(t)
	before := readTree(t, cfg1)
	var closedByFirst, openByFirst []string
	for _, d := range before.Dirs() {
		if before.Buckets[d].Manifest != nil {
			closedByFirst = append(closedByFirst, d)
		} else if len(before.Buckets[d].Files) > 0 {
			openByFirst = append(openByFirst, d)
		}
	}
	if len(closedByFirst) == 0 || len(openByFirst) == 0 {
		t.Fatalf("the first run should close some buckets and leave one open: closed %v, open %v", closedByFirst, openByFirst)
	}

	run2 := startLive(t, cfg2)
	pub := <-pubDone
	if pub.err != nil {
		t.Fatal(pub.err)
	}
	waitClosed(t, cfg2, cfg2.Layout.Start(pub.events[len(pub.events)-1].Sent.UnixMilli()), time.Minute)
	run2.stop(t)
	after := readTree(t, cfg2)

	for _, d := range closedByFirst {
		for name, data := range before.Objects {
			if strings.HasPrefix(name, d+"/") && string(after.Objects[name]) != string(data) {
				t.Errorf("%s, closed by the first run, changed", name)
			}
		}
		for name := range after.Buckets[d].Files {
			if strings.Contains(name, "second") {
				t.Errorf("the second run wrote %s into %s, closed by the first", name, d)
			}
		}
	}
	for _, d := range openByFirst {
		b := after.Buckets[d]
		if b.Manifest == nil || b.Manifest.RunID != "second" {
			t.Errorf("%s, left open by the first run, is not closed by the second: %+v", d, b.Manifest)
			continue
		}
		for name := range before.Buckets[d].Files {
			found := false
			for _, f := range b.Manifest.Files {
				found = found || f.Name == name
			}
			if !found {
				t.Errorf("%s: the manifest does not list the first run's %s", d, name)
			}
		}
	}
	where := eventsByBucket(after)
	var valid, missing, twice int
	for _, e := range pub.events {
		if e.EventID == "" {
			continue
		}
		valid++
		switch n := len(where[e.EventID]); {
		case n == 0:
			missing++
		case n > 1:
			twice++
		}
	}
	if missing > 0 || twice > 0 {
		t.Errorf("of %d valid events: %d missing, %d in two buckets", valid, missing, twice)
	}
	for _, d := range after.Dirs() {
		if after.Buckets[d].Manifest == nil {
			t.Errorf("%s is still open", d)
		}
	}
	t.Logf("%d valid events; first run closed %v, left %v open", valid, closedByFirst, openByFirst)
}
