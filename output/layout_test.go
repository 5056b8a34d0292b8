package output

import (
	"path"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestPlace(t *testing.T) {
	l := Layout{Width: time.Hour, Skew: 30 * time.Minute, MaxFuture: 10 * time.Minute}
	tests := []struct {
		name, t, p, want string
		skewed           bool
	}{
		{"same hour", "2026-11-20T10:15:00Z", "2026-11-20T10:16:00Z", "2026-11-20T10:00:00Z", false},
		{"last ms of hour", "2026-11-20T10:59:59.999Z", "2026-11-20T11:00:00Z", "2026-11-20T10:00:00Z", false},
		{"exactly L late", "2026-11-20T10:30:00Z", "2026-11-20T11:00:00Z", "2026-11-20T10:00:00Z", false},
		{"1ms past L", "2026-11-20T10:29:59.999Z", "2026-11-20T11:00:00Z", "2026-11-20T10:00:00Z", true},
		{"hour closed", "2026-11-20T09:59:00Z", "2026-11-20T11:10:00Z", "2026-11-20T10:00:00Z", true},
		{"long ago", "2026-11-19T09:59:00Z", "2026-11-20T11:40:00Z", "2026-11-20T11:00:00Z", true},
		{"exactly max future", "2026-11-20T11:10:00Z", "2026-11-20T11:00:00Z", "2026-11-20T11:00:00Z", false},
		{"past max future", "2026-11-20T11:10:00.001Z", "2026-11-20T11:00:00Z", "2026-11-20T10:00:00Z", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skewed := l.Place(ms(tc.t), ms(tc.p))
			if got != ms(tc.want) || skewed != tc.skewed {
				t.Errorf("Place(%s, %s) = %s, %v; want %s, %v", tc.t, tc.p, Format(got), skewed, tc.want, tc.skewed)
			}
			if c := l.CloseTime(got); c <= ms(tc.p) {
				t.Errorf("close time %s not after publish time %s: the stamp would move back", Format(c), tc.p)
			}
		})
	}
}

func TestWindowAndDir(t *testing.T) {
	l := Layout{Width: time.Hour, Skew: 45 * time.Minute}
	if got := l.WindowSize(); got != 15*time.Minute {
		t.Errorf("WindowSize = %v, want 15m", got)
	}
	h := ms("2026-11-20T10:00:00Z")
	end := l.Stamp(h) + 1
	if got := l.FromWindowEnd(end); got != h {
		t.Errorf("FromWindowEnd(%d) = %s, want %s", end, Format(got), Format(h))
	}
	if got := (Layout{Width: time.Hour}).WindowSize(); got != time.Hour {
		t.Errorf("WindowSize with L=0 = %v", got)
	}
	for _, tc := range []struct {
		w    time.Duration
		want string
	}{
		{time.Hour, "gs://b/raw/x/2026/11/20/10"},
		{15 * time.Minute, "gs://b/raw/x/2026/11/20/10/00"},
		{10 * time.Second, "gs://b/raw/x/2026/11/20/10/00/00"},
	} {
		if got := (Layout{Width: tc.w}).Dir("gs://b/raw/x/", h); got != tc.want {
			t.Errorf("Dir(%v) = %q, want %q", tc.w, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, bad := range []Layout{{Width: 500 * time.Millisecond}, {Width: 7 * time.Second}, {Width: 25 * time.Hour}, {Width: time.Hour, Skew: -1}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
	for _, ok := range []Layout{{Width: time.Second}, {Width: 10 * time.Second}, {Width: 15 * time.Minute}, {Width: 24 * time.Hour}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", ok, err)
		}
	}
}

func TestNotBefore(t *testing.T) {
	l := Layout{Width: time.Hour, Skew: 30 * time.Minute}
	for _, tc := range []struct{ ts, want string }{
		{"2026-11-20T11:29:59.999Z", "2026-11-20T10:00:00Z"},
		{"2026-11-20T11:30:00Z", "2026-11-20T11:00:00Z"},
		{"2026-11-20T12:00:00Z", "2026-11-20T11:00:00Z"},
	} {
		got := l.NotBefore(ms(tc.ts))
		if got != ms(tc.want) {
			t.Errorf("NotBefore(%s) = %s, want %s", tc.ts, Format(got), tc.want)
		}
		if l.Stamp(got) < ms(tc.ts) || l.Stamp(got-l.Width.Milliseconds()) >= ms(tc.ts) {
			t.Errorf("NotBefore(%s) = %s is not the first bucket stamped at or after it", tc.ts, Format(got))
		}
	}
}

func TestLookbackFrom(t *testing.T) {
	now := ms("2026-11-20T10:20:00Z")
	for _, tc := range []struct {
		width, span time.Duration
		want        string
	}{
		{time.Hour, 48 * time.Hour, "2026-11-18T10:00:00Z"},
		{time.Hour, 90 * time.Minute, "2026-11-20T08:00:00Z"},
		{time.Second, 48 * time.Hour, "2026-11-20T10:03:20Z"}, // bounded to 1,000 buckets
	} {
		if got := (Layout{Width: tc.width}).LookbackFrom(now, tc.span); got != ms(tc.want) {
			t.Errorf("LookbackFrom(width %v, span %v) = %s, want %s", tc.width, tc.span, Format(got), tc.want)
		}
	}
}

// Lookback is the range from LookbackFrom to the bucket of now, that bucket included.
func TestLookback(t *testing.T) {
	l := Layout{Width: time.Hour}
	r := l.Lookback(ms("2026-11-20T10:20:00Z"), 90*time.Minute)
	if want := (Range{From: ms("2026-11-20T08:00:00Z"), To: ms("2026-11-20T11:00:00Z")}); r != want {
		t.Errorf("Lookback = %s, want %s", r, want)
	}
	if n := len(r.Buckets(l)); n != 3 {
		t.Errorf("%d buckets, want 3 (08:00, 09:00, 10:00)", n)
	}
}

func TestParseFileName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		run   string
		pane  int64
		shard int
		ok    bool
	}{
		{FileName("r1", 3, 7), "r1", 3, 7, true},
		{FileName("job-2026-12-01", 0, 12), "job-2026-12-01", 0, 12, true},
		{"gs://b/e/2026/12/01/10/" + FileName("r", 1, 2), "r", 1, 2, true},
		{"part-r1-x-0.avro", "", 0, 0, false},
		{"part--0-0.avro", "", 0, 0, false},
		{"part-r1-0-0.json", "", 0, 0, false},
		{"_SUCCESS", "", 0, 0, false},
	} {
		run, pane, shard, ok := ParseFileName(tc.name)
		if run != tc.run || pane != tc.pane || shard != tc.shard || ok != tc.ok {
			t.Errorf("ParseFileName(%q) = %q %d %d %v, want %q %d %d %v", tc.name, run, pane, shard, ok, tc.run, tc.pane, tc.shard, tc.ok)
		}
	}
}

func TestHiveDir(t *testing.T) {
	h := ms("2026-11-20T10:00:00Z")
	for _, tc := range []struct {
		w    time.Duration
		want string
	}{
		{time.Hour, "gs://b/raw/x/dt=2026-11-20/hour=10"},
		{24 * time.Hour, "gs://b/raw/x/dt=2026-11-20/hour=00"},
		{15 * time.Minute, "gs://b/raw/x/dt=2026-11-20/hour=10/minute=00"},
		{10 * time.Second, "gs://b/raw/x/dt=2026-11-20/hour=10/minute=00/second=00"},
	} {
		start := (Layout{Width: tc.w}).Start(h)
		if got := (Layout{Width: tc.w, Paths: HivePaths}).Dir("gs://b/raw/x/", start); got != tc.want {
			t.Errorf("Dir(%v) = %q, want %q", tc.w, got, tc.want)
		}
	}
}

// ParseDir reads back every folder RelDir names, in both layouts and at every width, and
// refuses what is not a bucket folder of the layout.
func TestParseDir(t *testing.T) {
	at := ms("2026-11-20T23:59:50Z")
	for _, paths := range []Paths{"", DatePaths, HivePaths} {
		for _, w := range []time.Duration{24 * time.Hour, time.Hour, 15 * time.Minute, time.Minute, 10 * time.Second, time.Second} {
			l := Layout{Width: w, Paths: paths}
			start := l.Start(at)
			rel := l.RelDir(start)
			if got, err := l.ParseDir(rel); err != nil || got != start {
				t.Errorf("%s %v: ParseDir(%q) = %s, %v; want %s", l.Name(), w, rel, Format(got), err, Format(start))
			}
		}
	}
	hive, date := Layout{Width: time.Hour, Paths: HivePaths}, Layout{Width: time.Hour}
	for _, tc := range []struct {
		l   Layout
		rel string
	}{
		{hive, "2026/11/20/10"},
		{hive, "dt=2026-11-20"},
		{hive, "dt=2026-11-20/hour=25"},
		{hive, "hour=10/dt=2026-11-20"},
		{date, "dt=2026-11-20/hour=10"},
		{date, "2026/11/20/10/30"},
		{Layout{Width: 2 * time.Hour}, "2026/11/20/11"},
	} {
		if got, err := tc.l.ParseDir(tc.rel); err == nil {
			t.Errorf("%s: ParseDir(%q) = %s, want an error", tc.l.Name(), tc.rel, Format(got))
		}
	}
}

// The hive layout is what partition discovery reads (Spark's, Hive's, BigQuery's hive
// partitioning in AUTO or CUSTOM mode): every folder between the table root and a file
// is key=value, the keys the same in every path. This parses paths the way they do.
func TestHivePartitionDiscovery(t *testing.T) {
	discover := func(root, file string) (map[string]string, []string) {
		rel := strings.TrimPrefix(file, root+"/")
		dirs := strings.Split(path.Dir(rel), "/")
		kv, keys := map[string]string{}, []string(nil)
		for _, d := range dirs {
			k, v, ok := strings.Cut(d, "=")
			if !ok || k == "" || v == "" {
				t.Fatalf("%s: folder %q is not key=value", file, d)
			}
			kv[k] = v
			keys = append(keys, k)
		}
		return kv, keys
	}
	tg := Target{Root: "gs://b/raw", EventType: "play-track", Layout: Layout{Width: time.Hour, Paths: HivePaths}, RunID: "r1"}
	root := tg.Base()
	for _, tc := range []struct {
		at, dt, hour string
	}{
		{"2026-11-20T10:15:00Z", "2026-11-20", "10"},
		{"2026-12-31T23:59:59Z", "2026-12-31", "23"},
		{"2027-01-01T00:00:00Z", "2027-01-01", "00"},
	} {
		start := tg.Layout.Start(ms(tc.at))
		for _, file := range []string{tg.FilePath(start, 0, 3), tg.ManifestPath(start)} {
			kv, keys := discover(root, file)
			if !reflect.DeepEqual(keys, []string{"dt", "hour"}) || kv["dt"] != tc.dt || kv["hour"] != tc.hour {
				t.Errorf("%s: partitions %v (keys %v), want dt=%s hour=%s", file, kv, keys, tc.dt, tc.hour)
			}
			if _, err := time.Parse("2006-01-02", kv["dt"]); err != nil {
				t.Errorf("%s: dt %q is not a DATE: %v", file, kv["dt"], err)
			}
		}
		// Dead letters are a table of their own, partitioned the same way.
		kv, _ := discover(Join(root, DeadLetterFolder), tg.DeadLetterPath(start, 0, 0))
		if kv["dt"] != tc.dt || kv["hour"] != tc.hour || len(kv) != 2 {
			t.Errorf("dead letters: partitions %v, want dt=%s hour=%s", kv, tc.dt, tc.hour)
		}
	}
}
