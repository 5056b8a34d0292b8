package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
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
	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/transforms/heartbeat"
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
	names, err := st.Walk(ctx, output.Join(cfg.Output, cfg.EventType))
	if err != nil {
		b.Fatal(err)
	}
	var records, listed, dups, dead, invalid int64
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, "/"+output.ManifestName):
			data, err := st.Read(ctx, n)
			if err != nil {
				b.Fatal(err)
			}
			var m output.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
			listed += m.Records
			dups += m.Duplicates
			invalid += m.Invalid
		case strings.HasSuffix(n, ".avro"):
			data, err := st.Read(ctx, n)
			if err != nil {
				b.Fatal(err)
			}
			_, recs, err := avrofile.Read(data)
			if err != nil {
				b.Fatalf("%s: %v", n, err)
			}
			if strings.Contains(n, "/_deadletter/") {
				dead += int64(len(recs))
			} else {
				records += int64(len(recs))
			}
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
		if dead != int64(r.Invalid) || invalid != dead {
			b.Fatalf("full pipeline wrote %d dead letters (manifests count %d), want %d", dead, invalid, r.Invalid)
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

// spec is what the chunk's messages are generated from.
func (c chunk) spec() replaygen.Spec {
	return replaygen.Spec{
		Start: time.UnixMilli(c.Start).UTC(), Span: time.Duration(c.Span) * time.Millisecond, Events: int(c.Events),
		Retries: 0.03, Redelivers: 0.02, Skewed: 0.02, Future: 0.01, Invalid: 0.02, Seed: c.Seed,
	}
}

func init() {
	beam.RegisterType(reflect.TypeOf((*chunk)(nil)).Elem())
	register.DoFn2x1[chunk, func(beam.EventTime, message.Message), error](&expandFn{})
	register.DoFn2x0[chunk, func(beam.EventTime, int64)](&beatFn{})
	register.Emitter2[beam.EventTime, message.Message]()
	register.Emitter2[beam.EventTime, int64]()
}

// expandFn generates a chunk's messages inside the pipeline, stamped with their publish
// times, so that the input does not sit in memory (a TestStream holds all its elements).
// When an hour's first chunk comes, it samples the live heap and counts the closed hours
// under Out.
type expandFn struct {
	Out string
}

func (f *expandFn) ProcessElement(c chunk, emit func(beam.EventTime, message.Message)) error {
	if c.Start%(time.Hour.Milliseconds()/sampleEvery) == 0 {
		sampleHour(c.Start, f.Out)
	}
	msgs, err := replaygen.Generate(c.spec())
	if err != nil {
		return err
	}
	for _, m := range msgs {
		emit(mtime.FromMilliseconds(m.PublishTime), m.Message)
	}
	return nil
}

// beatFn is the benchmark's wall clock: a heartbeat for the hour of each chunk, stamped
// for its bucket, as heartbeat.Clock sends them in a live job.
type beatFn struct {
	Layout output.Layout
}

func (f *beatFn) ProcessElement(c chunk, emit func(beam.EventTime, int64)) {
	hour := c.Start - c.Start%time.Hour.Milliseconds()
	emit(mtime.FromMilliseconds(f.Layout.Stamp(hour)), hour)
}

// hourSample is what the process held during an hour: the least live heap after a GC
// (DoFns run in this process on Prism) of sampleEvery samples, and how many hours were
// closed when it started.
type hourSample struct {
	Heap   uint64
	Closed int
}

// sampleEvery is how many times an hour the heap is sampled. Prism runs stages
// concurrently, so a sample catches the hours in flight at some stage of their way; the
// least of an hour's samples is what earlier hours left behind.
const sampleEvery = 4

var (
	samplesMu sync.Mutex
	samples   = map[int64]hourSample{}
)

func sampleHour(at int64, out string) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := at - at%time.Hour.Milliseconds()
	samplesMu.Lock()
	defer samplesMu.Unlock()
	got, ok := samples[h]
	if !ok {
		got.Heap = ms.HeapAlloc
	}
	got.Heap = min(got.Heap, ms.HeapAlloc)
	if dir := os.Getenv("EVENTDELIVERY_BENCH_HEAPPROFILES"); dir != "" {
		writeHeapProfile(filepath.Join(dir, time.UnixMilli(at).UTC().Format("heap-1504.pprof")))
	}
	if at == h {
		closed, _ := filepath.Glob(filepath.Join(out, "*", "*", "*", "*", "*", output.ManifestName))
		got.Closed = len(closed)
	}
	samples[h] = got
}

// writeHeapProfile writes the heap profile to path, for pprof.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		slog.Warn("heap profile", "err", err)
		return
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		slog.Warn("heap profile", "err", err)
	}
}

// slope is the least-squares slope of ys against their index.
func slope(ys []float64) float64 {
	n := float64(len(ys))
	var sx, sy, sxy, sxx float64
	for i, y := range ys {
		x := float64(i)
		sx, sy, sxy, sxx = sx+x, sy+y, sxy+x*y, sxx+x*x
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// BenchmarkMemoryHours streams EVENTDELIVERY_BENCH_HOURLY events an hour (100,000 by
// default) through the full pipeline as a live job runs it, once for each count of hours in
// EVENTDELIVERY_BENCH_HOURS (say 4,16; skipped when unset): the watermark advances every 3
// minutes of event time (a TestStream of chunk seeds; the messages are generated inside the
// pipeline) with heartbeats for each hour, so that hours close as the stream goes. It reports the peak RSS
// and the live heap from hour 3 on (two hours are in flight at a time before that): its mean
// and its slope. When an hour's state and buffers are released once it closes, more hours
// raise neither the peak nor the heap.
func BenchmarkMemoryHours(b *testing.B) {
	list := os.Getenv("EVENTDELIVERY_BENCH_HOURS")
	if list == "" {
		b.Skip("set EVENTDELIVERY_BENCH_HOURS=4,16 to run")
	}
	perHour := envInt(b, "EVENTDELIVERY_BENCH_HOURLY", 100_000)
	const chunks = 20
	for _, h := range strings.Split(list, ",") {
		hours, err := strconv.Atoi(h)
		if err != nil || hours < 1 {
			b.Fatalf("EVENTDELIVERY_BENCH_HOURS=%q: want hour counts such as 1,2,4", list)
		}
		b.Run(fmt.Sprintf("hours=%d", hours), func(b *testing.B) {
			for b.Loop() {
				cfg := Config("", b.TempDir())
				// Live: heartbeats close the hours, not a gap filler at the end of input.
				cfg.Subscription = "projects/bench/subscriptions/play-track"
				c := teststream.NewConfig()
				var want Replay
				seen := map[string]bool{}
				var chunkList []chunk
				for h := range hours {
					start := replayStart.Add(time.Duration(h) * time.Hour)
					span := time.Hour / chunks
					for k := range chunks {
						from := start.Add(time.Duration(k) * span)
						ck := chunk{
							Start: from.UnixMilli(), Span: span.Milliseconds(),
							Events: int64(perHour * 100 / 107 / chunks), Seed: uint64(h*chunks + k + 1),
						}
						chunkList = append(chunkList, ck)
						if err := c.AddElements(from.UnixMilli(), ck); err != nil {
							b.Fatal(err)
						}
						if err := c.AdvanceWatermark(from.Add(span).UnixMilli()); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := c.AdvanceWatermarkToInfinity(); err != nil {
					b.Fatal(err)
				}
				p, s := beam.NewPipelineWithRoot()
				seeds := teststream.Create(s, c)
				msgs := beam.ParDo(s, &expandFn{Out: cfg.Output}, seeds)
				beats := heartbeat.Beats(s, beam.ParDo(s, &beatFn{Layout: cfg.Layout}, seeds))
				delivery.Deliver(s, cfg, msgs, beam.PCollection{}, beats)
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

				samplesMu.Lock()
				var heap []float64
				var series []string
				for h := range hours {
					got := samples[replayStart.Add(time.Duration(h)*time.Hour).UnixMilli()]
					heap = append(heap, float64(got.Heap)/(1<<20))
					series = append(series, fmt.Sprintf("%.0f MiB/%d closed", heap[h], got.Closed))
				}
				clear(samples)
				samplesMu.Unlock()
				b.Logf("each hour: least live heap/hours closed when it started: %s", strings.Join(series, ", "))
				// Every distinct event once, in hours that closed.
				for _, ck := range chunkList {
					msgs, err := replaygen.Generate(ck.spec())
					if err != nil {
						b.Fatal(err)
					}
					want.Add(msgs, cfg.Layout, seen)
				}
				check(b, "full", cfg, want)
				b.ReportMetric(heap[hours-1], "heap-at-last-hour-MiB")
				if hours >= 6 {
					steady := heap[2:]
					var sum float64
					for _, v := range steady {
						sum += v
					}
					b.ReportMetric(sum/float64(len(steady)), "heap-mean-MiB")
					b.ReportMetric(slope(steady), "heap-slope-MiB/hour")
				}
			}
		})
	}
}
