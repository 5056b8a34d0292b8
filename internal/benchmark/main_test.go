package benchmark

import (
	"log/slog"
	"os"
	"testing"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
)

func TestMain(m *testing.M) {
	// Prism leaves a file in TMPDIR on every run.
	dir, err := os.MkdirTemp("", "benchmark-")
	if err != nil {
		panic(err)
	}
	os.Setenv("TMPDIR", dir)
	// Prism and the pipeline log every job and bucket at Info: keep the figures readable.
	// beam.Init sets up slog again from log.LogLevel.
	slog.SetLogLoggerLevel(slog.LevelWarn)
	beamlog.LogLevel = "warn"
	code := ptest.MainRetWithDefault(m, "prism")
	pubsubemu.CloseShared()
	os.RemoveAll(dir)
	os.Exit(code)
}
