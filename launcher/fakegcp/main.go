// Command fakegcp serves in-process fakes of the Google Cloud APIs the launcher uses
// (Dataflow, and Cloud Monitoring with its dashboards) on one gRPC port, so that the
// launcher can be tried without GCP:
//
//	go run ./launcher/fakegcp --listen=127.0.0.1:9010 &
//	export DATAFLOW_EMULATOR_HOST=127.0.0.1:9010 MONITORING_EMULATOR_HOST=127.0.0.1:9010
//	go run ./launcher --fleet examples/fleet/fleet.yaml plan
//	go run ./launcher --fleet examples/fleet/fleet.yaml alerts plan
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"google.golang.org/grpc"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9010", "host:port to serve on")
	startDelay := flag.Duration("start-delay", 5*time.Second, "how long a launched job takes to become RUNNING")
	drainDelay := flag.Duration("drain-delay", 10*time.Second, "how long a drain takes")
	maxActive := flag.Int("max-active-jobs-per-project", 25, "active job quota of every project")
	batchParam := flag.String("batch-parameter", "input", "a job launched with this template parameter set is a batch job (the pipeline's replay input); empty: every job is streaming")
	batchRunTime := flag.Duration("batch-run-time", 30*time.Second, "how long a batch job runs before it is DONE")
	var channels, scopes listFlag
	flag.Var(&channels, "notification-channel", "PROJECT=EMAIL: create an email notification channel at start (repeatable); its name is printed")
	flag.Var(&scopes, "metrics-scope", "SCOPING=P1,P2: the scoping project sees the metrics of P1 and P2 (repeatable)")
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
		fakedataflow.WithBatchParameter(*batchParam),
		fakedataflow.WithBatchRunTime(*batchRunTime),
	)
	var monOpts []fakemonitoring.Option
	for _, s := range scopes {
		scoping, monitored, ok := strings.Cut(s, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "fakegcp: --metrics-scope %q: want SCOPING=P1,P2\n", s)
			os.Exit(2)
		}
		monOpts = append(monOpts, fakemonitoring.WithMetricsScope(scoping, strings.Split(monitored, ",")...))
	}
	mon := fakemonitoring.New(monOpts...)
	for _, c := range channels {
		project, email, ok := strings.Cut(c, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "fakegcp: --notification-channel %q: want PROJECT=EMAIL\n", c)
			os.Exit(2)
		}
		fmt.Printf("# notification channel for %s: %s\n", email, mon.AddNotificationChannel(project, email))
	}
	// Every fake registers on the same server; each interceptor passes other services'
	// calls through.
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(df.UnaryInterceptor(), mon.UnaryInterceptor()))
	df.Register(srv)
	mon.Register(srv)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.GracefulStop() }()
	slog.Info("fakegcp serving", "addr", lis.Addr().String(), "services", "dataflow v1beta3, monitoring v3, dashboards v1")
	fmt.Printf("export DATAFLOW_EMULATOR_HOST=%s MONITORING_EMULATOR_HOST=%s\n", lis.Addr(), lis.Addr())
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "fakegcp:", err)
		os.Exit(1)
	}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
