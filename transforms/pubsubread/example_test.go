package pubsubread_test

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/eventdelivery/eventdelivery/transforms/pubsubread"
)

// A local run reads with Read and stops gracefully on SIGINT or SIGTERM; a Dataflow run reads
// with Native.
func Example() {
	ctx := context.Background()
	runner, sub := "prism", "projects/my-project/subscriptions/play-track"

	p, s := beam.NewPipelineWithRoot()
	var msgs beam.PCollection
	stopper := pubsubread.NewStopper()
	defer stopper.Release()
	if runner == "dataflow" {
		msgs = pubsubread.Native(s, sub, "event_id")
	} else {
		msgs = pubsubread.Read(s, sub, pubsubread.WithStopper(stopper))
	}
	_ = msgs // decode, bucket, dedupe, write...

	sigCtx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	stopper.StopWhenDone(sigCtx)
	// Run with ctx, not sigCtx: the signal drains the pipeline; cancelling ctx would abort it.
	if _, err := beam.Run(ctx, runner, p); err != nil {
		log.Fatal(err)
	}
}
