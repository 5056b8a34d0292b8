// Package gcsfake runs fake-gcs-server in-process for tests: a Cloud Storage emulator that
// Google's storage client (and so Beam's gs:// filesystem) reaches via STORAGE_EMULATOR_HOST.
package gcsfake

import (
	"fmt"
	"net"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Start starts a fake Cloud Storage with the given buckets, points STORAGE_EMULATOR_HOST at
// it for the rest of the test, and stops it when the test ends.
func Start(t testing.TB, buckets ...string) *fakestorage.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host := fmt.Sprintf("127.0.0.1:%d", port)
	// Reads go through the XML API, which fake-gcs-server serves on its public host only.
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: uint16(port), PublicHost: host})
	if err != nil {
		t.Fatalf("start fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	for _, b := range buckets {
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	t.Setenv("STORAGE_EMULATOR_HOST", host)
	return srv
}
