package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/revisions"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/decode"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
)

// Config is everything one event-type pipeline needs, parsed and checked.
type Config struct {
	EventType    string
	Schema       string            // the Avro schema, JSON: the reader schema, the schema of every file
	Revisions    map[string]string // writer schema revisions messages may name, by revision id; nil: none known
	Input        string            // replay file(s); empty for a subscription
	Subscription string
	IDAttribute  string // passed to Dataflow's Pub/Sub source for its id-based dedupe
	Runner       string // the Beam runner: prism (default), dataflow, or another portable runner
	Output       string
	NotifyTopic  string // projects/P/topics/T announcing each closed bucket; empty: none
	BucketTime   decode.Source
	EventID      decode.Source
	Layout       output.Layout
	Shards       int
	EarlyPanes   time.Duration // live: write a bucket's events this often before it closes; 0: only at its close
	Lookback     time.Duration // how far back to look for buckets left open
	FileRecords  int           // live, acking after the output: write a shard's file once this many events wait
	Durable      bool          // the runner's commits survive the process: ack on commit
	RunID        string
	Version      string
	NowMs        int64 // for tests: the wall clock in Unix ms; 0 means time.Now

	// InputDisorder is how far behind the latest publish time read a replay's entry may
	// come; InputAnyOrder accepts any order, holding the whole replay until its end.
	InputDisorder time.Duration
	InputAnyOrder bool
	// InputFormat is the format of the replay's files (replay.Auto: detected per file).
	InputFormat replay.InputFormat
	// Range, when set, is the buckets a backfill was asked for (--replay_from, --replay_to).
	Range output.Range
	// ReplayOpenHours lets a replay write into hours another run still has open.
	ReplayOpenHours bool
	// Progress is the key of the progress.Counters a replay reports to (internal/progress),
	// set by the process that renders it; "" for none.
	Progress string

	gate string // key of the inflight.Gate of a replay on Prism (Build sets it)
}

// Target returns where the pipeline writes.
func (c Config) Target() output.Target {
	return output.Target{Root: c.Output, EventType: c.EventType, Layout: c.Layout, RunID: c.RunID, Rerun: c.Subscription == "", Range: c.Range}
}

// Flags holds the raw flag values of Params.
type Flags map[string]*string

// RegisterFlags defines every parameter of Params on fs.
func RegisterFlags(fs *flag.FlagSet) Flags {
	f := Flags{}
	for _, p := range Params {
		f[p.Name] = fs.String(p.Name, p.Default, p.Help)
	}
	return f
}

var eventTypeRe = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
var topicRe = regexp.MustCompile(`^projects/[^/]+/topics/[^/]+$`)
var runIDRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Config parses and checks the flags, reading the schema file, and reports every problem.
func (f Flags) Config(ctx context.Context) (Config, error) {
	var errs []error
	bad := func(flag string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	c := Config{EventType: *f["event_type"], Input: *f["input"], Subscription: *f["subscription"], IDAttribute: *f["id_attribute"], Output: *f["output"], RunID: *f["run_id"]}
	if !eventTypeRe.MatchString(c.EventType) {
		bad("event_type", "%q: want [a-z][a-z0-9-]*", c.EventType)
	}
	switch {
	case *f["schema_json"] != "":
		c.Schema = *f["schema_json"]
	case revisions.IsPubSub(*f["schema"]):
		set, err := revisions.FromPubSub(ctx, *f["schema"])
		if err != nil {
			bad("schema", "%v", err)
		}
		c.Schema, c.Revisions = set.Reader, set.Revisions
	case *f["schema"] != "":
		s, err := readFile(ctx, *f["schema"])
		if err != nil {
			bad("schema", "%v", err)
		}
		c.Schema = s
	default:
		bad("schema", "required (or --schema_json)")
	}
	if dir := *f["schema_revisions"]; dir != "" {
		revs, err := revisions.FromDir(ctx, dir)
		if err != nil {
			bad("schema_revisions", "%v", err)
		}
		for id, s := range revs {
			if old, ok := c.Revisions[id]; ok && old != s {
				bad("schema_revisions", "revision %s differs from the Pub/Sub schema's", id)
			}
			if c.Revisions == nil {
				c.Revisions = map[string]string{}
			}
			c.Revisions[id] = s
		}
	}
	if (c.Input == "") == (c.Subscription == "") {
		bad("input", "exactly one of --input and --subscription is required")
	}
	if c.Output == "" {
		bad("output", "required")
	}
	if c.NotifyTopic = *f["notify_topic"]; c.NotifyTopic != "" && !topicRe.MatchString(c.NotifyTopic) {
		bad("notify_topic", "%q: want projects/P/topics/T", c.NotifyTopic)
	}
	var err error
	if c.BucketTime, err = decode.ParseSource(*f["bucket_time"]); err != nil {
		bad("bucket_time", "%v", err)
	}
	if c.EventID, err = decode.ParseSource(*f["event_id"]); err != nil || c.EventID.Kind == decode.PublishTime {
		bad("event_id", "%q: want attribute:NAME or field:NAME", *f["event_id"])
	}
	dur := func(name string) time.Duration {
		d, err := time.ParseDuration(*f[name])
		if err != nil {
			bad(name, "%q is not a duration such as 30m", *f[name])
		}
		return d
	}
	c.Lookback = dur("lookback")
	if c.InputAnyOrder = *f["input_disorder"] == "any"; !c.InputAnyOrder {
		if c.InputDisorder = dur("input_disorder"); c.InputDisorder < 0 {
			bad("input_disorder", "%q: want a duration, 0 or more, or any", *f["input_disorder"])
		}
	}
	if c.InputFormat, err = replay.ParseInputFormat(*f["input_format"]); err != nil {
		bad("input_format", "%v", err)
	}
	if c.ReplayOpenHours, err = strconv.ParseBool(*f["replay_open_hours"]); err != nil {
		bad("replay_open_hours", "%q: want true or false", *f["replay_open_hours"])
	}
	switch c.EarlyPanes = dur("early_panes"); {
	case c.EarlyPanes < 0:
		bad("early_panes", "%q: want 0 (off) or a positive duration", *f["early_panes"])
	case c.EarlyPanes > 0 && c.Subscription == "":
		bad("early_panes", "a replay writes each bucket once, at the end of input: use it with --subscription")
	}
	if c.FileRecords, err = strconv.Atoi(*f["file_records"]); err != nil || c.FileRecords < 1 {
		bad("file_records", "%q: want a whole number, 1 or more", *f["file_records"])
	}
	if c.Durable, err = strconv.ParseBool(*f["durable_commits"]); err != nil {
		bad("durable_commits", "%q: want true or false", *f["durable_commits"])
	}
	c.Layout = output.Layout{Width: dur("bucket_width"), Skew: dur("skew_tolerance"), MaxFuture: dur("max_future")}
	if c.Layout.Paths, err = output.ParsePaths(*f["layout"]); err != nil {
		bad("layout", "%v", err)
	}
	if err := c.Layout.Validate(); err != nil {
		bad("bucket_width", "%v", err)
	}
	if from, to := *f["replay_from"], *f["replay_to"]; from != "" || to != "" {
		c.Range = c.parseRange(from, to, bad)
	}
	if c.Shards, err = strconv.Atoi(*f["shards"]); err != nil || c.Shards < 1 {
		bad("shards", "%q: want a whole number, 1 or more", *f["shards"])
	}
	if c.RunID == "" {
		c.RunID = NewRunID(time.Now())
	} else if !runIDRe.MatchString(c.RunID) {
		bad("run_id", "%q: want letters, digits, '.', '_' or '-'", c.RunID)
	}
	if c.Schema != "" && len(errs) == 0 {
		if err := c.Decode().Validate(); err != nil {
			bad("schema", "%v", err)
		}
	}
	return c, errors.Join(errs...)
}

// parseRange reads --replay_from and --replay_to: both, RFC3339 at bucket boundaries of
// c.Layout, from before to, for a replay.
func (c Config) parseRange(from, to string, bad func(flag, format string, args ...any)) output.Range {
	var r output.Range
	if c.Subscription != "" {
		bad("replay_from", "a range is for a replay (--input), not --subscription")
		return r
	}
	if from == "" || to == "" {
		bad("replay_from", "give both --replay_from and --replay_to (the range is [from, to))")
		return r
	}
	at := func(name, v string) int64 {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad(name, "%q is not an RFC3339 time such as 2026-11-20T10:00:00Z", v)
			return 0
		}
		ms := t.UnixMilli()
		if c.Layout.Width > 0 && c.Layout.Start(ms) != ms {
			bad(name, "%s is not at a bucket boundary (buckets of %v start at %s, %s)", v, c.Layout.Width,
				output.Format(c.Layout.Start(ms)), output.Format(c.Layout.Next(c.Layout.Start(ms))))
		}
		return ms
	}
	r = output.Range{From: at("replay_from", from), To: at("replay_to", to)}
	if r.To <= r.From {
		bad("replay_to", "%s is not after --replay_from %s", to, from)
	}
	return r
}

// CheckRunner reports what c cannot do on runner (c.Runner once set).
func (c Config) CheckRunner(runner string) error {
	if c.EarlyPanes > 0 && runner == "prism" {
		return errors.New("--early_panes: not on Prism, which crashes when a window closes while an early firing is pending; use it on Dataflow")
	}
	return nil
}

// AcksOutput reports whether messages are acked once what they became is in the output (a
// live job on a runner whose state dies with the process), rather than by the source.
func (c Config) AcksOutput() bool {
	return c.Subscription != "" && c.Runner != "dataflow" && !c.Durable
}

// ackSubscription is the subscription the writers ack, or "" when the source acks.
func (c Config) ackSubscription() string {
	if c.AcksOutput() {
		return c.Subscription
	}
	return ""
}

// MaxLease is how long the reader keeps an unacked message leased: until the bucket it goes
// to closes at the latest (a bucket's last events are written at its close), and some.
func (c Config) MaxLease() time.Duration {
	return c.Layout.Width + c.Layout.Skew + c.Layout.MaxFuture + 10*time.Minute
}

// Decode returns the decoder's configuration.
func (c Config) Decode() decode.Config {
	return decode.Config{Schema: c.Schema, EventID: c.EventID, BucketTime: c.BucketTime, Revisions: c.Revisions}
}

// NewRunID returns a run id made of the time and a random suffix: unique per job.
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return now.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b)
}

func readFile(ctx context.Context, path string) (string, error) {
	st, err := objstore.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer st.Close()
	b, err := st.Read(ctx, path)
	return string(b), err
}
