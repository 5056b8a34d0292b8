package benchmark

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// BenchmarkReplayHours replays EVENTDELIVERY_BENCH_REPLAY events (say 10000000) published
// over 10 hours through the full pipeline, and, in the same run, a replay of its first hour
// alone (the same messages: the generator's chunks are the same), and reports each one's
// peak resident set size and events/s, and their ratios: a replay's memory follows the hour,
// not the replay (transforms/replay), so the 10 hours should peak at about the RSS of one
// and run at about its speed. Skipped unless the variable is set.
func BenchmarkReplayHours(b *testing.B) {
	if os.Getenv("EVENTDELIVERY_BENCH_REPLAY") == "" {
		b.Skip("set EVENTDELIVERY_BENCH_REPLAY=10000000 to run")
	}
	n := envInt(b, "EVENTDELIVERY_BENCH_REPLAY", 10_000_000)
	const hours = 10
	cfg := Config("", "")
	dir := b.TempDir()
	type replay struct {
		name, input string
		r           Replay
		peakMiB     float64
		rate        float64
		peaks       peaks
	}
	runs := []*replay{{name: "1h", input: filepath.Join(dir, "1h.jsonl")}, {name: "10h", input: filepath.Join(dir, "10h.jsonl")}}
	var err error
	if runs[0].r, err = WriteReplay(runs[0].input, n/hours, replayStart, time.Hour, cfg.Layout); err != nil {
		b.Fatal(err)
	}
	if runs[1].r, err = WriteReplay(runs[1].input, n, replayStart, hours*time.Hour, cfg.Layout); err != nil {
		b.Fatal(err)
	}
	b.Logf("replays: %d messages in 1 hour, %d in %d hours", runs[0].r.Messages, runs[1].r.Messages, hours)
	for b.Loop() {
		for _, rp := range runs {
			debug.FreeOSMemory()
			before := vm(b, "VmRSS")
			// Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
			if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
				b.Fatalf("cannot reset the peak RSS: %v", err)
			}
			stopProfiles := heapProfiles(rp.name)
			stopPeaks := heapPeaks()
			wall, _, cfg := run(b, "full", rp.input)
			stopProfiles()
			rp.peaks = stopPeaks()
			rp.peakMiB = float64(vm(b, "VmHWM")) / 1024
			rp.rate = float64(rp.r.Messages) / wall.Seconds()
			check(b, "full", cfg, rp.r)
			os.RemoveAll(cfg.Output)
			b.Logf("%s: %d messages, peak RSS %.0f MiB (%.0f MiB at the start), %.0f events/s; %s", rp.name, rp.r.Messages, rp.peakMiB, float64(before)/1024, rp.rate, rp.peaks)
		}
		b.ReportMetric(runs[0].peakMiB, "1h-peak-RSS-MiB")
		b.ReportMetric(runs[1].peakMiB, "10h-peak-RSS-MiB")
		b.ReportMetric(runs[1].peakMiB/runs[0].peakMiB, "RSS-ratio")
		b.ReportMetric(runs[0].rate, "1h-events/s")
		b.ReportMetric(runs[1].rate, "10h-events/s")
		b.ReportMetric(runs[1].rate/runs[0].rate, "speed-ratio")
	}
}

// heapProfiles writes a heap profile every 15 s, after a GC, into
// EVENTDELIVERY_BENCH_HEAPPROFILES (when set) as <name>-<n>.pprof, until the returned func is
// called: what a replay holds as it goes, for go tool pprof -diff_base.
func heapProfiles(name string) (stop func()) {
	dir := os.Getenv("EVENTDELIVERY_BENCH_HEAPPROFILES")
	if dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.GC()
				writeHeapProfile(filepath.Join(dir, fmt.Sprintf("%s-%02d.pprof", name, n)))
			}
		}
	}()
	return func() { close(done) }
}

// peaks are the largest values of the runtime's memory figures over a run, sampled every
// 100 ms: what the peak RSS is made of (live heap after a GC, the collector's goal, all the
// runtime holds from the OS).
type peaks struct{ live, goal, objects, total uint64 }

func (p peaks) String() string {
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	return fmt.Sprintf("runtime peaks: live heap %.0f MiB, heap goal %.0f MiB, heap objects %.0f MiB, runtime total %.0f MiB", mib(p.live), mib(p.goal), mib(p.objects), mib(p.total))
}

// heapPeaks samples the runtime's memory figures until the returned func is called, which
// returns their peaks.
func heapPeaks() (stop func() peaks) {
	names := []string{"/gc/heap/live:bytes", "/gc/heap/goal:bytes", "/memory/classes/heap/objects:bytes", "/memory/classes/total:bytes", "/memory/classes/heap/released:bytes"}
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	done, out := make(chan struct{}), make(chan peaks)
	go func() {
		var p peaks
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			p.live = max(p.live, s[0].Value.Uint64())
			p.goal = max(p.goal, s[1].Value.Uint64())
			p.objects = max(p.objects, s[2].Value.Uint64())
			p.total = max(p.total, s[3].Value.Uint64()-s[4].Value.Uint64())
			select {
			case <-done:
				out <- p
				return
			case <-t.C:
			}
		}
	}()
	return func() peaks { close(done); return <-out }
}
