package replay

import "time"

// Option configures Read.
type Option func(*options)

type options struct {
	disorder time.Duration
	anyOrder bool
	bounded  bool
	records  int
	format   InputFormat
	progress string
	gate     string
}

// defaultCheckpoint is how many entries the ordered read emits between checkpoints, each of
// which hands the runner a new watermark: often enough that a bucket closes soon after the
// input passes it, seldom enough that the checkpoints cost little.
const defaultCheckpoint = 20_000

func (o options) every() int {
	if o.records > 0 {
		return o.records
	}
	return defaultCheckpoint
}

// WithDisorder lets an entry come up to d behind the latest publish time read before it; the
// watermark trails the input by d, so each bucket also closes d later.
func WithDisorder(d time.Duration) Option { return func(o *options) { o.disorder = d } }

// AnyOrder reads input in any order: the watermark holds until every file is read.
func AnyOrder() Option { return func(o *options) { o.anyOrder = true } }

// Bounded reads the files in parallel, each as a whole, for batch runners such as Dataflow,
// where a GroupByKey spills to disk rather than holding its input in memory.
func Bounded() Option { return func(o *options) { o.bounded = true } }

// CheckpointEvery makes the ordered read hand the runner its watermark every n entries.
func CheckpointEvery(n int) Option { return func(o *options) { o.records = n } }

// WithFormat reads the input in format f (Auto, the default, detects it per file).
func WithFormat(f InputFormat) Option { return func(o *options) { o.format = f } }

// WithGate makes the ordered read wait, before each checkpoint's entries, while the
// inflight.Gate registered under key (internal/inflight) is full: on Prism, which has no
// backpressure, the read would otherwise run ahead of the writers and fill the runner's
// queues. CountIn counts what enters; the sink, what leaves (sink.Config.Gate).
func WithGate(key string) Option { return func(o *options) { o.gate = key } }

// WithProgress adds what the read gets through to the progress.Counters registered under
// key (internal/progress), at each checkpoint and file end.
func WithProgress(key string) Option { return func(o *options) { o.progress = key } }
