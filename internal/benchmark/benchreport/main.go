// Command benchreport reads the output of the pipeline's benchmarks (go test -bench, as
// `make bench` writes it to files) and prints the summary: the per-event work next to
// goavro's floor and the end-to-end figures next to the baseline, with their ratios and the
// targets of docs/performance.md. It exits 1 when a benchmark failed or a figure is missing.
//
//	go run ./internal/benchmark/benchreport FILE...
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// result holds every value reported for one benchmark, by unit; one per -count.
type result map[string][]float64

func main() {
	results := map[string]result{}
	failed := false
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "panic:") {
				failed = true
			}
			name, values, ok := parse(line)
			if !ok {
				continue
			}
			if results[name] == nil {
				results[name] = result{}
			}
			for unit, v := range values {
				results[name][unit] = append(results[name][unit], v)
			}
		}
		f.Close()
	}
	missing := report(results)
	if failed {
		fmt.Println("\nbenchreport: a benchmark failed (see above)")
	}
	if failed || missing {
		os.Exit(1)
	}
}

// parse reads a benchmark result line: name, iterations, then value-unit pairs. The name
// loses its -GOMAXPROCS suffix.
func parse(line string) (string, map[string]float64, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
		return "", nil, false
	}
	if _, err := strconv.Atoi(fields[1]); err != nil {
		return "", nil, false
	}
	name := fields[0]
	if i := strings.LastIndex(name, "-"); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	values := map[string]float64{}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return "", nil, false
		}
		values[fields[i+1]] = v
	}
	return name, values, true
}

// median returns the median of xs.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// statedReplayPeakMiB is the peak RSS docs/performance.md states for a replay of 1,000,000
// events published within one hour, on Prism.
const statedReplayPeakMiB = 1024

// report prints the summary and says whether a figure it needs is missing.
func report(results map[string]result) (missing bool) {
	get := func(name, unit string) (med, lo, hi float64, ok bool) {
		vs := results[name][unit]
		if len(vs) == 0 {
			return 0, 0, 0, false
		}
		return median(vs), slices.Min(vs), slices.Max(vs), true
	}
	fmt.Println("\n== Summary (all figures from this run) ==")
	fmt.Println("\nPer event (median of runs; ns/event, allocs/event):")
	rows := []struct{ name, label string }{
		{"decode", "decode + validate (decode.Decoder.Decode)"},
		{"place", "bucket placement (output.Layout.Place + Stamp)"},
		{"shard", "shard key (output.Shard)"},
		{"append", "append to an OCF block, snappy (avrofile.Writer)"},
		{"path", "the project's path: all four"},
		{"path-current-revision", "the path, message of the reader's revision"},
		{"path-resolved", "the path, message of an older revision, resolved"},
		{"path-goavro-writer", "the same path with goavro's OCF writer (before)"},
		{"goavro-decode", "goavro decode alone"},
		{"floor-snappy", "goavro floor: decode + OCF append, snappy"},
		{"floor-null", "goavro floor, no compression"},
		{"floor-deflate", "goavro floor, deflate"},
	}
	for _, r := range rows {
		ns, lo, hi, ok := get("BenchmarkPerEvent/"+r.name, "ns/op")
		if !ok {
			continue
		}
		allocs, _, _, _ := get("BenchmarkPerEvent/"+r.name, "allocs/op")
		fmt.Printf("  %-52s %8.0f ns  (%.0f–%.0f)  %4.0f allocs\n", r.label, ns, lo, hi, allocs)
	}
	path, _, _, okPath := get("BenchmarkPerEvent/path", "ns/op")
	floor, _, _, okFloor := get("BenchmarkPerEvent/floor-snappy", "ns/op")
	if okPath && okFloor {
		ratio := path / floor
		fmt.Printf("  path / goavro floor (snappy): %.2f   target ≤ 1.5: %s\n", ratio, verdict(ratio <= 1.5))
	} else {
		fmt.Println("  per-event figures missing")
		missing = true
	}
	// Schema revisions (issue 15): a message of the reader's own revision takes today's path;
	// one of an older revision pays for the resolution into the reader schema.
	cur, _, _, okCur := get("BenchmarkPerEvent/path-current-revision", "ns/op")
	res, _, _, okRes := get("BenchmarkPerEvent/path-resolved", "ns/op")
	if okCur && okRes && okFloor && okPath {
		fmt.Printf("  current revision / goavro floor: %.2f   (/ path: %.2f, target ≤ 1.1 %s)\n", cur/floor, cur/path, verdict(cur/path <= 1.1))
		fmt.Printf("  resolved revision / goavro floor: %.2f   (/ path: %.2f)\n", res/floor, res/path)
	} else {
		fmt.Println("  schema revision figures missing")
		missing = true
	}
	if d, _, _, ok := get("BenchmarkPerEvent/floor-deflate", "ns/op"); ok && okFloor {
		fmt.Printf("  goavro floor deflate / snappy: %.2f\n", d/floor)
	}

	const e2e = "BenchmarkEndToEnd"
	fmt.Println("\nEnd to end on Prism (the same replay, alternating; median of rounds, min–max):")
	for _, name := range []string{"baseline", "full"} {
		med, _, _, ok := get(e2e, name+"-events/s")
		lo, _, _, _ := get(e2e, name+"-min-events/s")
		hi, _, _, _ := get(e2e, name+"-max-events/s")
		if !ok {
			fmt.Println("  end-to-end figures missing")
			return true
		}
		cpu, _, _, _ := get(e2e, name+"-CPU-µs/event")
		fmt.Printf("  %-9s %8.0f events/s  (%.0f–%.0f)  %5.1f CPU-µs/event (Prism included)\n", name, med, lo, hi, cpu)
	}
	ratio, _, _, _ := get(e2e, "ratio")
	lo, _, _, _ := get(e2e, "ratio-min")
	hi, _, _, _ := get(e2e, "ratio-max")
	rounds, _, _, _ := get(e2e, "rounds")
	fmt.Printf("  full / baseline: %.2f  (%.2f–%.2f over %.0f rounds)   target ≥ 0.5: %s\n", ratio, lo, hi, rounds, verdict(ratio >= 0.5))

	const live = "BenchmarkLiveEmulator"
	if read, _, _, ok := get(live, "pipeline_read_events/s"); ok {
		pub, _, _, _ := get(live, "emulator_publish_msgs/s")
		pull, _, _, _ := get(live, "emulator_pull_ack_msgs/s")
		closed, _, _, _ := get(live, "s_until_all_closed")
		fmt.Println("\nLive, from the Pub/Sub emulator through the pipeline on Prism (one backlog, same run):")
		fmt.Printf("  emulator publish %8.0f msgs/s, pull+ack %8.0f msgs/s (warmed; before and after the pipeline)\n", pub, pull)
		acked, _, _, _ := get(live, "pipeline_acked_events/s")
		startup, _, _, _ := get(live, "s_until_first_read")
		fmt.Printf("  pipeline reads   %8.0f events/s = %.2f of the emulator's pull+ack   target ≥ 0.8: %s\n", read, read/pull, verdict(read/pull >= 0.8))
		fmt.Printf("                   (from its first message to its last; the first came %.1fs after the run started)\n", startup)
		if hold, _, _, ok := get(live, "emulator_pull_hold_msgs/s"); ok {
			fmt.Printf("                   = %.2f of the emulator's pull with acks held until all are pulled (%.0f msgs/s), as the pipeline holds them\n", read/hold, hold)
		}
		fmt.Printf("  pipeline acks    %8.0f events/s = %.2f of it (each once in a file); every bucket closed %.1fs after start\n", acked, acked/pull, closed)
	}

	const hours = "BenchmarkMemoryHours/hours="
	short, _, _, okShort := get(hours+"4", "peak-RSS-MiB")
	long, _, _, okLong := get(hours+"16", "peak-RSS-MiB")
	fmt.Println("\nMemory on Prism:")
	if okShort && okLong {
		mean, _, _, _ := get(hours+"16", "heap-mean-MiB")
		slope, _, _, _ := get(hours+"16", "heap-slope-MiB/hour")
		fmt.Println("  a live stream of 100,000 events an hour, hours closing as it goes:")
		fmt.Printf("    peak RSS: 4 hours %.0f MiB, 16 hours %.0f MiB: ratio %.2f   target ≤ 1.2: %s\n", short, long, long/short, verdict(long/short <= 1.2))
		fmt.Printf("    live heap from hour 3 to 16: mean %.0f MiB, slope %+.2f MiB/hour (%+.2f %%/hour)   target ≤ 2 %%/hour: %s\n",
			mean, slope, 100*slope/mean, verdict(slope <= 0.02*mean))
	} else {
		fmt.Println("  memory-across-hours figures missing")
		missing = true
	}
	if peak, _, _, ok := get("BenchmarkMemory", "peak-RSS-MiB"); ok {
		fmt.Printf("  a replay of 1,000,000 events in one hour: peak RSS %.0f MiB   stated ≤ %d MiB: %s\n", peak, statedReplayPeakMiB, verdict(peak <= statedReplayPeakMiB))
	} else {
		fmt.Println("  replay peak-RSS figure missing")
		missing = true
	}
	const replayHours = "BenchmarkReplayHours"
	if ratio, _, _, ok := get(replayHours, "RSS-ratio"); ok {
		one, _, _, _ := get(replayHours, "1h-peak-RSS-MiB")
		ten, _, _, _ := get(replayHours, "10h-peak-RSS-MiB")
		speed, _, _, _ := get(replayHours, "speed-ratio")
		oneRate, _, _, _ := get(replayHours, "1h-events/s")
		tenRate, _, _, _ := get(replayHours, "10h-events/s")
		fmt.Println("  a replay over 10 hours next to its first hour alone:")
		fmt.Printf("    peak RSS: 1 hour %.0f MiB, 10 hours %.0f MiB: ratio %.2f   target ≤ 1.2: %s\n", one, ten, ratio, verdict(ratio <= 1.2))
		fmt.Printf("    events/s: 1 hour %.0f, 10 hours %.0f: ratio %.2f   target ≥ 0.85: %s\n", oneRate, tenRate, speed, verdict(speed >= 0.85))
	} else {
		fmt.Println("  replay-over-hours figures missing")
		missing = true
	}
	return missing
}
