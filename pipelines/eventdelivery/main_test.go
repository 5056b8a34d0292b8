package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/outputtree"
	"github.com/eventdelivery/eventdelivery/internal/replaygen"
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
}

// TestDataflowTranslation translates the streaming pipeline for Dataflow offline: no
// submission, no network. It must be a streaming job (Runner v2, Streaming Engine) reading
// Pub/Sub through Dataflow's native source.
func TestDataflowTranslation(t *testing.T) {
	_, stderr, code := runCLI(t, "--runner=dataflow", "--dry_run", "--project=p", "--region=us-central1",
		"--temp_location=gs://b/tmp", "--staging_location=gs://b/staging",
		"--event_type=play-track", "--schema="+schemaFile, "--subscription=projects/p/subscriptions/play-track",
		"--id_attribute=event_id", "--output=gs://b/raw")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{"JOB_TYPE_STREAMING", "beam:transform:pubsub_read:v1", "enable_streaming_engine", "use_runner_v2", "beam:requirement:pardo:stateful:v1", "Dry-run: not submitting job"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
}
