package pubsubread

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// dryRunEnv makes the test binary translate a pipeline with Native for Dataflow and exit.
const dryRunEnv = "PUBSUBREAD_DATAFLOW_DRY_RUN"

func dryRunMain() int {
	flag.Parse()
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	Native(s, "projects/p/subscriptions/play-track", "event_id")
	if _, err := beam.Run(context.Background(), "dataflow", p); err != nil {
		fmt.Fprintln(os.Stderr, "dry run:", err)
		return 1
	}
	return 0
}

// TestNativeDataflowDryRun translates a pipeline that reads with Native for Dataflow, offline,
// and checks that it is a streaming job reading the subscription with Dataflow's native source.
func TestNativeDataflowDryRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0],
		"--runner=dataflow", "--dry_run", "--project=p", "--region=us-central1",
		"--temp_location=gs://b/tmp", "--staging_location=gs://b/staging")
	cmd.Env = append(os.Environ(), dryRunEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"beam:transform:pubsub_read:v1",
		"JOB_TYPE_STREAMING",
		"projects/p/subscriptions/play-track", // in the read's payload
		"event_id",                            // the id attribute, in the payload
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestFromProto(t *testing.T) {
	ts := beam.EventTime(1_700_000_000_123)
	m := &pb.PubsubMessage{MessageId: "42", Data: []byte("x"), Attributes: map[string]string{"a": "b"}}
	got := fromProto(ts, m)
	if got.ID != "42" || got.PublishTime != 1_700_000_000_123 || string(got.Data) != "x" || got.Attributes["a"] != "b" {
		t.Errorf("fromProto without publish_time = %+v", got)
	}
	m.PublishTime = timestamppb.New(time.UnixMilli(1_600_000_000_456))
	if got := fromProto(ts, m); got.PublishTime != 1_600_000_000_456 {
		t.Errorf("fromProto with publish_time: PublishTime = %d", got.PublishTime)
	}
}
