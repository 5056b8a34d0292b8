package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/internal/testkit/livegen"
	"github.com/eventdelivery/eventdelivery/internal/testkit/outputtree"
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eventdelivery-cli-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "eventdelivery")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/eventdelivery/eventdelivery/internal/version.Version=v9.9.9-test", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic(err)
	}
	code := m.Run()
	pubsubemu.CloseShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

var schemaFile = filepath.Join("..", "..", "examples", "play-track", "play_track.avsc")

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, "--version")
	if code != 0 || strings.TrimSpace(out) != "v9.9.9-test" {
		t.Errorf("--version printed %q, exit %d; want v9.9.9-test, 0", out, code)
	}
}

func TestBadFlagsAreAllReported(t *testing.T) {
	_, stderr, code := runCLI(t, "--event_type=Bad_Name", "--schema="+schemaFile, "--bucket_width=7s", "--skew_tolerance=soon", "--event_id=publish_time", "--shards=0")
	if code == 0 {
		t.Fatalf("exit 0 for bad flags")
	}
	for _, want := range []string{"--event_type", "--input", "--output", "--bucket_width", "--skew_tolerance", "--event_id", "--shards"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %s:\n%s", want, stderr)
		}
	}
}

func TestReplayRun(t *testing.T) {
	msgs, err := replaygen.Generate(replaygen.Spec{Start: time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC), Span: time.Hour, Events: 200, Retries: 0.1, Invalid: 0.05, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range msgs {
		lines = append(lines, string(replay.Format(m.Message)))
	}
	input := filepath.Join(t.TempDir(), "replay.jsonl")
	os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	out := t.TempDir()
	_, stderr, code := runCLI(t, "--runner=prism", "--event_type=play-track", "--schema="+schemaFile, "--input="+input, "--output="+out, "--shards=2", "--run_id=cli")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	tree, err := outputtree.Read(context.Background(), out, "play-track")
	if err != nil {
		t.Fatal(err)
	}
	var records int64
	for _, d := range tree.Dirs() {
		m := tree.Buckets[d].Manifest
		if m == nil {
			t.Fatalf("%s has no manifest", d)
		}
		if m.PipelineVersion != "v9.9.9-test" || m.RunID != "cli" {
			t.Errorf("%s: version %q run %q", d, m.PipelineVersion, m.RunID)
		}
		records += m.Records
	}
	if records != 200 || len(tree.Check()) > 0 {
		t.Errorf("%d records, problems %v; want 200 and none", records, tree.Check())
	}
	// Not on a terminal: progress as log lines, and a summary at the end.
	for _, want := range []string{"replay progress", "files_read=1 files=1 records=" + fmt.Sprint(len(msgs)), "replay done",
		fmt.Sprintf("replay_records_read=%d", len(msgs)), fmt.Sprintf("buckets_closed=%d", len(tree.Dirs()))} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
}

// A backfill's range and format are checked with the other flags, each named.
func TestBackfillFlags(t *testing.T) {
	_, stderr, code := runCLI(t, "--event_type=play-track", "--schema="+schemaFile, "--input=x.jsonl", "--output=/tmp/x",
		"--input_format=xml", "--replay_from=2026-11-20T10:30:00Z", "--replay_to=2026-11-20T09:00:00Z", "--replay_open_hours=maybe")
	if code == 0 {
		t.Fatalf("exit 0 for bad flags")
	}
	for _, want := range []string{
		"--input_format:", "want auto, json, pubsub-avro or deadletter",
		"--replay_from: 2026-11-20T10:30:00Z is not at a bucket boundary (buckets of 1h0m0s start at 2026-11-20T10:00:00Z, 2026-11-20T11:00:00Z)",
		"--replay_to: 2026-11-20T09:00:00Z is not after --replay_from",
		"--replay_open_hours:",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
}

// dryRunDataflow translates play-track's pipeline for Dataflow offline (project p,
// us-central1), with args for its locations, input and the rest; it returns the CLI's stderr
// and exit code.
func dryRunDataflow(t *testing.T, args ...string) (stderr string, code int) {
	t.Helper()
	_, stderr, code = runCLI(t, append([]string{"--runner=dataflow", "--dry_run", "--project=p", "--region=us-central1",
		"--event_type=play-track", "--schema=" + schemaFile}, args...)...)
	return stderr, code
}

// staged is the temp and staging locations of a dry run.
var staged = []string{"--temp_location=gs://b/tmp", "--staging_location=gs://b/staging"}

// TestDataflowTranslation translates the streaming pipeline for Dataflow offline: no
// submission, no network. It must be a streaming job (Runner v2, Streaming Engine) reading
// Pub/Sub through Dataflow's native source.
func TestDataflowTranslation(t *testing.T) {
	stderr, code := dryRunDataflow(t, append(staged, "--subscription=projects/p/subscriptions/play-track",
		"--id_attribute=event_id", "--output=gs://b/raw")...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{"JOB_TYPE_STREAMING", "beam:transform:pubsub_read:v1", "enable_streaming_engine", "use_runner_v2", "beam:requirement:pardo:stateful:v1", "Dry-run: not submitting job"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
}

// TestDataflowReplayIsABatchJob translates a replay for Dataflow offline: it must be a batch
// job (its files read as a bounded source, in parallel), never a streaming one.
func TestDataflowReplayIsABatchJob(t *testing.T) {
	stderr, code := dryRunDataflow(t, append(staged, "--input=gs://archive/play-track/*.jsonl", "--output=gs://b/rebuild")...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{"JOB_TYPE_BATCH", "Dry-run: not submitting job"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	for _, unwanted := range []string{"JOB_TYPE_STREAMING", "enable_streaming_engine"} {
		if strings.Contains(stderr, unwanted) {
			t.Errorf("a replay's dry run says %q", unwanted)
		}
	}
}

// On Dataflow without --staging_location, the pipeline stages under --temp_location
// instead of failing ("no GCS staging location specified").
func TestStagingLocationDefaultsToTempLocation(t *testing.T) {
	stderr, code := dryRunDataflow(t, "--temp_location=gs://b/tmp/",
		"--subscription=projects/p/subscriptions/play-track", "--output=gs://b/raw")
	if code != 0 || !strings.Contains(stderr, "staging_location=gs://b/tmp/staging") {
		t.Errorf("exit %d, want 0 and staging under gs://b/tmp/staging:\n%s", code, stderr)
	}
}

// TestEarlyPanesOnDataflowOnly: --early_panes puts an early processing-time firing on the
// GroupByKey that writes files in the Dataflow job, and is refused on Prism and for replays.
func TestEarlyPanesOnDataflowOnly(t *testing.T) {
	stderr, code := dryRunDataflow(t, append(staged, "--subscription=projects/p/subscriptions/play-track",
		"--output=gs://b/raw", "--early_panes=5m")...)
	if code != 0 || !strings.Contains(stderr, "early_firings") || !strings.Contains(stderr, "after_processing_time") {
		t.Errorf("exit %d; the Dataflow job must carry an early processing-time firing:\n%s", code, stderr)
	}
	for _, args := range [][]string{
		{"--runner=prism", "--subscription=projects/p/subscriptions/play-track"},
		{"--runner=prism", "--input=replay.jsonl"},
	} {
		_, stderr, code := runCLI(t, append(args, "--event_type=play-track", "--schema="+schemaFile, "--output="+t.TempDir(), "--early_panes=5m")...)
		if code == 0 || !strings.Contains(stderr, "--early_panes") {
			t.Errorf("%v: exit %d, want a refusal that names --early_panes:\n%s", args, code, stderr)
		}
	}
}

// TestSIGINTDrainsALiveRun runs the binary on a subscription of the Pub/Sub emulator and
// sends it SIGINT while events are still being published. It must stop gracefully (exit 0),
// and every event must be either written once or still waiting in the subscription: what was
// read is written, nothing is acked unwritten.
func TestSIGINTDrainsALiveRun(t *testing.T) {
	emu := pubsubemu.ForTest(t)
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	ctx := context.Background()
	c, err := emu.Client(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := t.TempDir()
	cmd := exec.Command(binary, "--event_type=play-track", "--schema="+schemaFile, "--subscription="+names.Subscription,
		"--output="+out, "--bucket_width=2s", "--skew_tolerance=1s", "--max_future=1s", "--bucket_time=field:client_time")
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir(), emu.Env())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		events []livegen.Event
		err    error
	}
	published := make(chan result, 1)
	go func() {
		ev, err := livegen.Publish(ctx, c, names.Topic, livegen.Spec{Events: 1000, Rate: 100, Retries: 0.1, Seed: 9}, nil)
		published <- result{ev, err}
	}()
	// Stop once the job is up and delivering (a bucket closed), mid-stream.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(out, "play-track", "*", "*", "*", "*", "*", "*", "_SUCCESS"))
		if len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no bucket closed within a minute:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("no exit within a minute of SIGINT")
	}
	if !strings.Contains(stderr.String(), "stopped gracefully") {
		t.Errorf("no graceful stop in the log")
	}
	pub := <-published
	if pub.err != nil {
		t.Fatal(pub.err)
	}

	tree, err := outputtree.Read(ctx, out, "play-track")
	if err != nil {
		t.Fatal(err)
	}
	if problems := tree.Check(); len(problems) > 0 {
		t.Errorf("output breaks the contract: %v", problems)
	}
	written := map[string]int{}
	for _, d := range tree.Dirs() {
		for _, recs := range tree.Buckets[d].Files {
			for _, r := range recs {
				written[r["event_id"].(string)]++
			}
		}
	}
	waiting := map[string]bool{}
	for empty := 0; empty < 3; {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: names.Subscription, MaxMessages: 1000, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetReceivedMessages()) == 0 {
			empty++
			continue
		}
		var ids []string
		for _, m := range resp.GetReceivedMessages() {
			waiting[m.GetMessage().GetAttributes()["event_id"]] = true
			ids = append(ids, m.GetAckId())
		}
		c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: names.Subscription, AckIds: ids})
	}
	var lost, twice int
	for _, e := range pub.events {
		switch {
		case written[e.EventID] > 1:
			twice++
		case written[e.EventID] == 0 && !waiting[e.EventID]:
			lost++
		}
	}
	if lost > 0 || twice > 0 || len(written) == 0 || len(waiting) == 0 {
		t.Errorf("of %d events: %d written, %d still in the subscription, %d lost, %d written twice", len(pub.events), len(written), len(waiting), lost, twice)
	}
}
