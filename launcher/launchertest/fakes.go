package launchertest

import (
	"context"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakedataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
)

// Load writes the fleet of s into dir (see [Write]) and loads it; it fails the test on
// an error.
func Load(tb testing.TB, dir string, s Spec) *fleet.Fleet {
	tb.Helper()
	path, err := Write(dir, s)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := fleet.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// Dataflow starts a fake Dataflow and connects Google's clients to it; both are closed
// when the test ends.
func Dataflow(tb testing.TB, opts ...fakedataflow.Option) (*fakedataflow.Server, *dataflow.Client) {
	tb.Helper()
	srv, err := fakedataflow.NewServer(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	c, err := dataflow.Dial(context.Background(), dataflow.Config{EmulatorHost: srv.Addr})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return srv, c
}

// Monitoring starts a fake Cloud Monitoring and connects Google's clients to it; both are
// closed when the test ends.
func Monitoring(tb testing.TB, opts ...fakemonitoring.Option) (*fakemonitoring.Server, *monitoring.Client) {
	tb.Helper()
	srv, err := fakemonitoring.NewServer(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	c, err := monitoring.Dial(context.Background(), monitoring.Config{EmulatorHost: srv.Addr})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return srv, c
}
