package dedupe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
)

// BenchmarkStartAgainstBigBucket measures what a job taking over an open bucket of
// 1,000,000 events (100 files of 10,000, the --file_records default, 36-character ids)
// pays at its first event there: the headers read, the time to read them for every shard,
// and the memory their ids hold.
func BenchmarkStartAgainstBigBucket(b *testing.B) {
	const files, perFile, shards = 100, 10_000, 4
	tg := output.Target{Root: b.TempDir(), EventType: "play-track", RunID: "new", Layout: output.Layout{Width: time.Hour, Skew: 30 * time.Minute}}
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
	var headerBytes int64
	for i := range files {
		ids := make([]string, perFile)
		for j := range ids {
			ids[j] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, j)
		}
		old := tg
		old.RunID = "old"
		name := old.FilePath(start, int64(i/shards), i%shards)
		data := avrofile.NewWriter(`"string"`, name, avrofile.Meta{Key: output.MetaIDs, Value: output.IDsMeta(ids)}).Bytes()
		headerBytes += int64(len(data))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	var held uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f := &dedupeFn{Shards: shards, Target: tg}
		var err error
		if f.store, err = objstore.Open(ctx, tg.Root); err != nil {
			b.Fatal(err)
		}
		n := 0
		for shard := range shards {
			w, err := f.writtenIn(ctx, start, shard)
			if err != nil {
				b.Fatal(err)
			}
			n += len(w.others)
		}
		if n != files*perFile {
			b.Fatalf("%d ids seen, want %d", n, files*perFile)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(f)
		f.store.Close()
	}
	b.ReportMetric(float64(headerBytes)/(1<<20), "MiB-of-headers")
	b.ReportMetric(float64(shards*headerBytes)/(1<<20), "MiB-read-all-shards")
	b.ReportMetric(float64(held)/(1<<20), "MiB-held")
}
