package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/replaygen"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/transforms/bucket"
	"github.com/eventdelivery/eventdelivery/transforms/message"
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
	"full":     func(s beam.Scope, cfg delivery.Config) { delivery.Build(s, cfg, nil) },
}

// run runs the named pipeline on input into a fresh folder and returns how long it took
// and the CPU time the process spent meanwhile (Prism runs in the process, so this is the
// runner's work too).
func run(b *testing.B, name, input string) (wall, cpu time.Duration, cfg delivery.Config) {
	b.Helper()
	cfg = Config(input, b.TempDir())
	p, s := beam.NewPipelineWithRoot()
	pipelines[name](s, cfg)
	runtime.GC()
	cpu0, start := cpuTime(b), time.Now()
	if err := ptest.Run(p); err != nil {
		b.Fatalf("%s pipeline failed: %v", name, err)
	}
	return time.Since(start), cpuTime(b) - cpu0, cfg
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
		rate, cpu := map[string][]float64{}, map[string][]float64{}
		var ratios []float64
		for i := range rounds {
			for _, name := range []string{"baseline", "full"} {
				wall, used, cfg := run(b, name, input)
				rate[name] = append(rate[name], float64(r.Messages)/wall.Seconds())
				cpu[name] = append(cpu[name], float64(used.Microseconds())/float64(r.Messages))
				if i == 0 {
					check(b, name, cfg, r)
				}
			}
			ratios = append(ratios, rate["full"][i]/rate["baseline"][i])
			b.Logf("round %d: baseline %.0f events/s (%.1f CPU-µs/event), full %.0f events/s (%.1f CPU-µs/event), ratio %.2f",
				i+1, rate["baseline"][i], cpu["baseline"][i], rate["full"][i], cpu["full"][i], ratios[i])
		}
		for _, name := range []string{"baseline", "full"} {
			med, lo, hi := median(rate[name])
			b.ReportMetric(med, name+"-events/s")
			b.ReportMetric(lo, name+"-min-events/s")
			b.ReportMetric(hi, name+"-max-events/s")
			med, _, _ = median(cpu[name])
			b.ReportMetric(med, name+"-CPU-µs/event")
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
		wall, used, cfg := run(b, name, input)
		peak := vm(b, "VmHWM")
		check(b, name, cfg, r)
		b.ReportMetric(float64(r.Messages)/wall.Seconds(), "events/s")
		b.ReportMetric(float64(used.Microseconds())/float64(r.Messages), "CPU-µs/event")
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

// chunk names a slice of generated messages: chunks of Chunks per hour, each spanning
// its share of the hour from Start (Unix ms).
type chunk struct {
	Start, Span, Events int64
	Seed                uint64
}

func init() {
	beam.RegisterType(reflect.TypeOf((*chunk)(nil)).Elem())
	register.DoFn2x1[chunk, func(beam.EventTime, message.Message), error](&expandFn{})
	register.Emitter2[beam.EventTime, message.Message]()
}

// expandFn generates a chunk's messages inside the pipeline, stamped with their publish
// times, so that the input does not sit in memory (a TestStream holds all its elements).
type expandFn struct{}

func (f *expandFn) ProcessElement(c chunk, emit func(beam.EventTime, message.Message)) error {
	if c.Start%time.Hour.Milliseconds() == 0 {
		sampleHeap(c.Start)
	}
	msgs, err := replaygen.Generate(replaygen.Spec{
		Start: time.UnixMilli(c.Start).UTC(), Span: time.Duration(c.Span) * time.Millisecond, Events: int(c.Events),
		Retries: 0.03, Redelivers: 0.02, Skewed: 0.02, Future: 0.01, Invalid: 0.02, Seed: c.Seed,
	})
	if err != nil {
		return err
	}
	for _, m := range msgs {
		emit(mtime.FromMilliseconds(m.PublishTime), m.Message)
	}
	return nil
}

// heapAtHour holds the live heap (after a GC) when each hour's first chunk is generated,
// by hour start: what earlier hours left behind (DoFns run in this process on Prism).
var (
	heapMu     sync.Mutex
	heapAtHour = map[int64]uint64{}
)

func sampleHeap(hour int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapMu.Lock()
	heapAtHour[hour] = ms.HeapInuse
	heapMu.Unlock()
}

// BenchmarkMemoryHours streams EVENTDELIVERY_BENCH_HOURLY events an hour (100,000 by
// default) through the full pipeline, the watermark advancing hour by hour (a TestStream of
// chunk seeds; the messages are generated inside the pipeline), for EVENTDELIVERY_BENCH_HOURS
// hours (1,2,4), and
// reports the peak RSS of each: when an hour's state and buffers are released once it
// closes, more hours do not raise the peak. Skipped unless EVENTDELIVERY_BENCH_MEMORY is set.
func BenchmarkMemoryHours(b *testing.B) {
	if os.Getenv("EVENTDELIVERY_BENCH_MEMORY") == "" {
		b.Skip("set EVENTDELIVERY_BENCH_MEMORY=1000000 to run")
	}
	perHour := envInt(b, "EVENTDELIVERY_BENCH_HOURLY", 100_000)
	const chunks = 20
	list := os.Getenv("EVENTDELIVERY_BENCH_HOURS")
	if list == "" {
		list = "1,2,4"
	}
	for _, h := range strings.Split(list, ",") {
		hours, err := strconv.Atoi(h)
		if err != nil || hours < 1 {
			b.Fatalf("EVENTDELIVERY_BENCH_HOURS=%q: want hour counts such as 1,2,4", list)
		}
		b.Run(fmt.Sprintf("hours=%d", hours), func(b *testing.B) {
			for b.Loop() {
				cfg := Config("", b.TempDir())
				c := teststream.NewConfig()
				for h := range hours {
					start := replayStart.Add(time.Duration(h) * time.Hour)
					span := time.Hour / chunks
					var elems []any
					for k := range chunks {
						elems = append(elems, chunk{
							Start: start.Add(time.Duration(k) * span).UnixMilli(), Span: span.Milliseconds(),
							Events: int64(perHour * 100 / 107 / chunks), Seed: uint64(h*chunks + k + 1),
						})
					}
					if err := c.AddElements(start.UnixMilli(), elems...); err != nil {
						b.Fatal(err)
					}
					if err := c.AdvanceWatermark(start.Add(time.Hour).UnixMilli()); err != nil {
						b.Fatal(err)
					}
				}
				if err := c.AdvanceWatermarkToInfinity(); err != nil {
					b.Fatal(err)
				}
				p, s := beam.NewPipelineWithRoot()
				msgs := beam.ParDo(s, &expandFn{}, teststream.Create(s, c))
				delivery.Deliver(s, cfg, msgs, beam.PCollection{})
				debug.FreeOSMemory()
				before := vm(b, "VmRSS")
				if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
					b.Logf("cannot reset the peak RSS: %v", err)
				}
				start := time.Now()
				if err := ptest.Run(p); err != nil {
					b.Fatalf("pipeline failed: %v", err)
				}
				b.ReportMetric(float64(hours*perHour)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64(vm(b, "VmHWM"))/1024, "peak-RSS-MiB")
				b.ReportMetric(float64(before)/1024, "start-RSS-MiB")
				// Live heap when the last hour starts, and its growth per hour since hour 2
				// (hour 1 is still open while hour 2 fills).
				heapMu.Lock()
				last := heapAtHour[replayStart.Add(time.Duration(hours-1)*time.Hour).UnixMilli()]
				second := heapAtHour[replayStart.Add(time.Hour).UnixMilli()]
				clear(heapAtHour)
				heapMu.Unlock()
				b.ReportMetric(float64(last)/(1<<20), "heap-at-last-hour-MiB")
				if hours > 2 {
					b.ReportMetric((float64(last)-float64(second))/(1<<20)/float64(hours-2), "heap-growth-MiB/hour")
				}
			}
		})
	}
}
