package launchertest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
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
	return LoadFile(tb, File(tb, dir, s))
}

// File is [Write] in a test: it returns the fleet file's path and fails the test on an
// error.
func File(tb testing.TB, dir string, s Spec) string {
	tb.Helper()
	path, err := Write(dir, s)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// LoadFile loads the fleet file at path; it fails the test on an error.
func LoadFile(tb testing.TB, path string) *fleet.Fleet {
	tb.Helper()
	f, err := fleet.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// ReadFile reads a file for a test (a fleet file to change, a schema); it fails the test on
// an error.
func ReadFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Revisions returns the revisions r1, r2 and r3 of the play-event schema that the codec's
// tests use (internal/codec/testdata/revisions), by name: r1 reads none of the others, r3
// reads all of them.
func Revisions(tb testing.TB) map[string]string {
	tb.Helper()
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "..", "internal", "codec", "testdata", "revisions")
	defs := map[string]string{}
	for _, r := range []string{"r1", "r2", "r3"} {
		defs[r] = ReadFile(tb, filepath.Join(dir, r+".avsc"))
	}
	return defs
}

// Dataflow starts a fake Dataflow and connects Google's clients to it; both are closed
// when the test ends.
func Dataflow(tb testing.TB, opts ...fakedataflow.Option) (*fakedataflow.Server, *dataflow.Client) {
	tb.Helper()
	srv := DataflowServer(tb, opts...)
	c, err := dataflow.Dial(context.Background(), dataflow.Config{EmulatorHost: srv.Addr})
	return srv, closedAtEnd(tb, c, err)
}

// DataflowServer starts a fake Dataflow, closed when the test ends.
func DataflowServer(tb testing.TB, opts ...fakedataflow.Option) *fakedataflow.Server {
	tb.Helper()
	srv, err := fakedataflow.NewServer(opts...)
	return closedAtEnd(tb, srv, err)
}

// Monitoring starts a fake Cloud Monitoring and connects Google's clients to it; both are
// closed when the test ends.
func Monitoring(tb testing.TB, opts ...fakemonitoring.Option) (*fakemonitoring.Server, *monitoring.Client) {
	tb.Helper()
	srv := MonitoringServer(tb, opts...)
	c, err := monitoring.Dial(context.Background(), monitoring.Config{EmulatorHost: srv.Addr})
	return srv, closedAtEnd(tb, c, err)
}

// MonitoringServer starts a fake Cloud Monitoring, closed when the test ends.
func MonitoringServer(tb testing.TB, opts ...fakemonitoring.Option) *fakemonitoring.Server {
	tb.Helper()
	srv, err := fakemonitoring.NewServer(opts...)
	return closedAtEnd(tb, srv, err)
}

// closedAtEnd returns what a constructor returned, to be closed when the test ends; it
// fails the test on the constructor's error.
func closedAtEnd[T interface{ Close() error }](tb testing.TB, v T, err error) T {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}
