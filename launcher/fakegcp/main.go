// Command fakegcp serves in-process fakes of the Google Cloud APIs the launcher uses (today
// Dataflow) on one gRPC port, so that the launcher can be tried without GCP:
//
//	go run ./launcher/fakegcp --listen=127.0.0.1:9010 &
//	DATAFLOW_EMULATOR_HOST=127.0.0.1:9010 go run ./launcher --fleet examples/fleet/fleet.yaml plan
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"google.golang.org/grpc"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9010", "host:port to serve on")
	startDelay := flag.Duration("start-delay", 5*time.Second, "how long a launched job takes to become RUNNING")
	drainDelay := flag.Duration("drain-delay", 10*time.Second, "how long a drain takes")
	maxActive := flag.Int("max-active-jobs-per-project", 25, "active job quota of every project")
	flag.Parse()

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakegcp:", err)
		os.Exit(1)
	}
	df := fakedataflow.New(
		fakedataflow.WithStartDelay(*startDelay),
		fakedataflow.WithDrainDelay(*drainDelay),
		fakedataflow.WithMaxActiveJobsPerProject(*maxActive),
	)
	// Further fakes (Cloud Monitoring) register on the same server and chain their
	// interceptors here.
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(df.UnaryInterceptor()))
	df.Register(srv)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.GracefulStop() }()
	slog.Info("fakegcp serving", "addr", lis.Addr().String(), "services", "dataflow v1beta3")
	fmt.Printf("export DATAFLOW_EMULATOR_HOST=%s\n", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "fakegcp:", err)
		os.Exit(1)
	}
}
