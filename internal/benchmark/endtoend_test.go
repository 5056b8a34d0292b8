package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/transforms/bucket"
)

// envInt returns the integer in the environment variable name, or def.
func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a whole number, 1 or more", name, v)
	}
	return n
}

var replayStart = time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC)

// pipelines are the two pipelines measured, by name.
var pipelines = map[string]func(beam.Scope, delivery.Config){
	"baseline": func(s beam.Scope, cfg delivery.Config) { Baseline(s, cfg) },
	"full":     func(s beam.Scope, cfg delivery.Config) { delivery.Build(s, cfg) },
}

// run runs the named pipeline on input into a fresh folder and returns how long it took.
func run(b *testing.B, name, input string) (time.Duration, delivery.Config) {
	b.Helper()
	cfg := Config(input, b.TempDir())
	p, s := beam.NewPipelineWithRoot()
	pipelines[name](s, cfg)
	runtime.GC()
	start := time.Now()
	if err := ptest.Run(p); err != nil {
		b.Fatalf("%s pipeline failed: %v", name, err)
	}
	return time.Since(start), cfg
}

// check verifies that a pipeline wrote what the replay says it should: every valid message
// (baseline), or every distinct event of a bucket once, in closed buckets (full).
func check(b *testing.B, name string, cfg delivery.Config, r Replay) {
	b.Helper()
	ctx := context.Background()
	st, err := objstore.Open(ctx, cfg.Output)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	names, err := st.Walk(ctx, bucket.Join(cfg.Output, cfg.EventType))
	if err != nil {
		b.Fatal(err)
	}
	var records, listed, dups int64
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, "/"+bucket.ManifestName):
			data, err := st.Read(ctx, n)
			if err != nil {
				b.Fatal(err)
			}
			var m bucket.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
			listed += m.Records
			dups += m.Duplicates
		case strings.HasSuffix(n, ".avro") && !strings.Contains(n, "/_deadletter/"):
			data, err := st.Read(ctx, n)
			if err != nil {
				b.Fatal(err)
			}
			_, recs, err := avrofile.Read(data)
			if err != nil {
				b.Fatalf("%s: %v", n, err)
			}
			records += int64(len(recs))
		}
	}
	switch name {
	case "baseline":
		if records != int64(r.Valid) {
			b.Fatalf("baseline wrote %d records, want %d", records, r.Valid)
		}
	case "full":
		if records != int64(r.Unique) || listed != records || dups != int64(r.Duplicates) {
			b.Fatalf("full pipeline wrote %d records (manifests list %d, %d duplicates), want %d and %d duplicates", records, listed, dups, r.Unique, r.Duplicates)
		}
	}
}

// median returns the median of xs and its spread (lowest, highest).
func median(xs []float64) (med, lo, hi float64) {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// BenchmarkEndToEnd replays the same messages (EVENTDELIVERY_BENCH_EVENTS, 100,000 by
// default, over three hours) through the passthrough baseline and the full pipeline on
// Prism, alternately, EVENTDELIVERY_BENCH_ROUNDS times (5), after a small warm-up, and
// reports the medians of events/s (messages read per second of wall time, Prism's start
// included) and of the ratio full / baseline of each round, with their spread.
func BenchmarkEndToEnd(b *testing.B) {
	n := envInt(b, "EVENTDELIVERY_BENCH_EVENTS", 100_000)
	rounds := envInt(b, "EVENTDELIVERY_BENCH_ROUNDS", 5)
	dir := b.TempDir()
	cfg := Config("", "")
	warm := filepath.Join(dir, "warm.jsonl")
	if _, err := WriteReplay(warm, 2000, replayStart, time.Hour, cfg.Layout); err != nil {
		b.Fatal(err)
	}
	input := filepath.Join(dir, "replay.jsonl")
	r, err := WriteReplay(input, n, replayStart, 3*time.Hour, cfg.Layout)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("replay: %d messages, %d valid, %d distinct events, %d duplicates, %d invalid", r.Messages, r.Valid, r.Unique, r.Duplicates, r.Invalid)
	for b.Loop() {
		for _, name := range []string{"baseline", "full"} {
			run(b, name, warm)
		}
		rate := map[string][]float64{}
		var ratios []float64
		for i := range rounds {
			for _, name := range []string{"baseline", "full"} {
				d, cfg := run(b, name, input)
				rate[name] = append(rate[name], float64(r.Messages)/d.Seconds())
				if i == 0 {
					check(b, name, cfg, r)
				}
			}
			ratios = append(ratios, rate["full"][i]/rate["baseline"][i])
			b.Logf("round %d: baseline %.0f events/s, full %.0f events/s, ratio %.2f", i+1, rate["baseline"][i], rate["full"][i], ratios[i])
		}
		for _, name := range []string{"baseline", "full"} {
			med, lo, hi := median(rate[name])
			b.ReportMetric(med, name+"-events/s")
			b.ReportMetric(lo, name+"-min-events/s")
			b.ReportMetric(hi, name+"-max-events/s")
		}
		med, lo, hi := median(ratios)
		b.ReportMetric(med, "ratio")
		b.ReportMetric(lo, "ratio-min")
		b.ReportMetric(hi, "ratio-max")
		b.ReportMetric(float64(rounds), "rounds")
	}
}

// BenchmarkMemory replays EVENTDELIVERY_BENCH_MEMORY events (say 1000000) published within
// one hour through the full pipeline and reports the process's peak resident set size
// (VmHWM; Prism runs in the same process), reset after the replay is generated. It is
// skipped unless the variable is set: it takes about a minute and a few GiB.
func BenchmarkMemory(b *testing.B) {
	if os.Getenv("EVENTDELIVERY_BENCH_MEMORY") == "" {
		b.Skip("set EVENTDELIVERY_BENCH_MEMORY=1000000 to run")
	}
	n := envInt(b, "EVENTDELIVERY_BENCH_MEMORY", 1_000_000)
	name := os.Getenv("EVENTDELIVERY_BENCH_PIPELINE")
	if name == "" {
		name = "full"
	}
	cfg := Config("", "")
	input := filepath.Join(b.TempDir(), "replay.jsonl")
	r, err := WriteReplay(input, n, replayStart, time.Hour, cfg.Layout)
	if err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(input)
	b.Logf("replay: %d messages in one hour (%d MiB), %d distinct events, %d duplicates", r.Messages, fi.Size()>>20, r.Unique, r.Duplicates)
	for b.Loop() {
		debug.FreeOSMemory()
		before := vm(b, "VmRSS")
		// Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Logf("cannot reset the peak RSS (%v): it includes generating the replay", err)
		}
		d, cfg := run(b, name, input)
		peak := vm(b, "VmHWM")
		check(b, name, cfg, r)
		b.ReportMetric(float64(r.Messages)/d.Seconds(), "events/s")
		b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(before)/1024, "start-RSS-MiB")
	}
}

// vm returns a field of /proc/self/status in KiB.
func vm(b *testing.B, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
