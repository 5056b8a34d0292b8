// Package delivery is the event-type pipeline: its parameters and its graph, from messages
// to closed, deduplicated buckets. The pipeline binary and its tests both build it here.
package delivery

import (
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/eventdelivery/eventdelivery/internal/inflight"
	"github.com/eventdelivery/eventdelivery/internal/stop"
	"github.com/eventdelivery/eventdelivery/transforms/bucket"
	"github.com/eventdelivery/eventdelivery/transforms/deadletter"
	"github.com/eventdelivery/eventdelivery/transforms/decode"
	"github.com/eventdelivery/eventdelivery/transforms/dedupe"
	"github.com/eventdelivery/eventdelivery/transforms/heartbeat"
	"github.com/eventdelivery/eventdelivery/transforms/manifest"
	"github.com/eventdelivery/eventdelivery/transforms/pubsubread"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
	"github.com/eventdelivery/eventdelivery/transforms/sink"
)

// Build adds the pipeline for cfg to s and returns the manifests it writes
// (PCollection<output.Manifest>). It reads cfg.Input (a bounded replay) or cfg.Subscription:
// through Dataflow's native Pub/Sub source on Dataflow, through the project's reader
// elsewhere, with heartbeats on the wall clock so that every bucket closes. stopper (may be
// nil) stops a live run gracefully where the DoFns run in this process (Prism).
func Build(s beam.Scope, cfg Config, stopper *stop.Stopper, opts ...pubsubread.Option) beam.PCollection {
	if cfg.Subscription == "" {
		if cfg.replayInProcess() {
			cfg.gate = inflight.New(cfg.inFlightLimit()).Key()
		}
		r := replay.Read(s, cfg.Input, cfg.Target(), cfg.replayOptions()...)
		switch {
		case cfg.Range.IsSet():
			// A backfill closes the buckets of its range, and only those.
			return Deliver(s, cfg, r.Messages, r.Dead, heartbeat.Range(s, cfg.Layout, cfg.Range))
		case r.Beats.IsValid():
			return Deliver(s, cfg, r.Messages, r.Dead, r.Beats)
		}
		return Deliver(s, cfg, r.Messages, r.Dead)
	}
	var msgs beam.PCollection
	if cfg.Runner == "dataflow" {
		msgs = pubsubread.Native(s, cfg.Subscription, cfg.IDAttribute)
	} else {
		if stopper != nil {
			opts = append(opts, pubsubread.WithStopper(stopper))
		}
		if cfg.AcksOutput() {
			opts = append(opts, pubsubread.WithMaxLease(cfg.MaxLease()))
		} else {
			opts = append(opts, pubsubread.WithAckOnCommit())
		}
		msgs = pubsubread.Read(s, cfg.Subscription, opts...)
	}
	return Deliver(s, cfg, msgs, beam.PCollection{}, heartbeat.Clock(s, cfg.Layout, cfg.HeartbeatEvery(), stopper))
}

// replayOptions returns how a replay reads its input: in order, its watermark trailing the
// input by the disorder allowed (each bucket closes and leaves memory once the input is read
// past it); in any order, holding every bucket until the end; on Dataflow as a bounded
// source read in parallel (a batch job, whose shuffle is on disk).
func (c Config) replayOptions() []replay.Option {
	opts := []replay.Option{replay.WithFormat(c.InputFormat), replay.WithProgress(c.Progress), replay.WithGate(c.gate)}
	switch {
	case c.Runner == "dataflow":
		return append(opts, replay.Bounded())
	case c.InputAnyOrder:
		return append(opts, replay.AnyOrder())
	}
	return append(opts, replay.WithDisorder(c.InputDisorder))
}

// replayInProcess reports whether the job is a replay on a runner that holds what waits in
// memory, in this process (Prism): it writes its files as events come, and its reader waits
// for its writers.
func (c Config) replayInProcess() bool { return c.Subscription == "" && c.Runner != "dataflow" }

// earlyPanes reports whether a bucket's on-time events are grouped apart from its late ones
// (bucket.AssignEarly): in a replay on Prism read in order, whose watermark follows the
// input, and whose dedupe keeps its ids in the process (state is per window).
func (c Config) earlyPanes() bool { return c.gate != "" && !c.InputAnyOrder }

// inFlightLimit is how many events a replay on Prism lets be between its reader and its
// files: twice what can wait in the file-writing GroupByKey for its panes to fill (up to
// FileRecords per shard in each bucket that may be open at once), so that the reader waits
// only for writers that lag, never for panes that wait for more input.
func (c Config) inFlightLimit() int64 {
	l := c.Layout
	open := int64((l.Width+l.Skew+l.MaxFuture+l.Width-1)/l.Width) + 1
	return 2 * int64(c.Shards) * int64(max(c.FileRecords, 1)) * open
}

// HeartbeatEvery is how often a live job sends a heartbeat: often enough that every bucket
// gets one.
func (c Config) HeartbeatEvery() time.Duration {
	return min(c.Layout.Width/2, 30*time.Second)
}

// Deliver adds everything after the source: decode, bucket, dedupe, write, close. msgs is
// PCollection<message.Message> stamped with publish times; dead holds dead letters the
// source found itself (may be the zero PCollection). A live job (cfg.Subscription set)
// passes its wall-clock heartbeats in beats (PCollection<message.Entry>); a bounded one gets
// a heartbeat for every bucket from its first to its last, from its reader (beats) when the
// reader sends them as it goes, or else at the end of its input.
func Deliver(s beam.Scope, cfg Config, msgs beam.PCollection, dead beam.PCollection, beats ...beam.PCollection) beam.PCollection {
	t := cfg.Target()
	events, invalid := decode.Decode(s, msgs, cfg.Decode())
	if dead.IsValid() {
		invalid = beam.Flatten(s, invalid, dead)
	}
	// Where messages are acked once in a file, files and dead-letter files are written as
	// they accumulate; so are a replay's where the runner holds what waits in memory (Prism):
	// a bucket then leaves memory a file at a time, not at its close.
	panes, deadPanes := bucket.EarlyPanes(cfg.EarlyPanes), []beam.WindowIntoOption(nil)
	if cfg.AcksOutput() || cfg.replayInProcess() {
		panes, deadPanes = bucket.EveryRecords(cfg.FileRecords), bucket.EveryRecords(cfg.FileRecords)
	}
	dedupeOpts := []dedupe.Option{dedupe.AcrossRuns(t, cfg.NowMs)}
	if cfg.gate != "" {
		dedupeOpts = append(dedupeOpts, dedupe.InProcess(cfg.gate))
	}
	sinkCfg := sink.Config{Target: t, Schema: cfg.Schema, Subscription: cfg.ackSubscription(), Gate: cfg.gate}
	deadCfg := deadletter.Config{Target: t, Shards: cfg.Shards, Subscription: cfg.ackSubscription(), Gate: cfg.gate}
	// write groups placed events into files, as a replay's reader counts them in flight.
	write := func(placed beam.PCollection, opts ...dedupe.Option) beam.PCollection {
		if cfg.gate != "" { // a replay's reader waits while too many events are between it and the files
			replay.CountIn(s, cfg.gate, placed)
		}
		return sink.Write(s, dedupe.Dedupe(s, placed, cfg.Shards, slices.Concat(dedupeOpts, opts)...), sinkCfg)
	}
	var entries []beam.PCollection
	var seen, seenDead beam.PCollection
	if cfg.earlyPanes() {
		// A bucket's on-time events and dead letters are written once the input is read past
		// its end; only its late ones wait in memory for its close.
		onTime, late, s1 := bucket.AssignEarly(s, events, t, panes...)
		deadOnTime, deadLate, s2 := bucket.AssignDeadLettersEarly(s, invalid, t, deadPanes...)
		lateDead := deadCfg
		lateDead.Late = true
		seen, seenDead = s1, s2
		entries = append(entries, write(onTime), write(late, dedupe.LatePanes()),
			deadletter.Write(s, deadOnTime, deadCfg), deadletter.Write(s, deadLate, lateDead))
	} else {
		var placed, placedDead beam.PCollection
		placed, seen = bucket.Assign(s, events, t, panes...)
		placedDead, seenDead = bucket.AssignDeadLetters(s, invalid, t, deadPanes...)
		entries = append(entries, write(placed), deadletter.Write(s, placedDead, deadCfg))
	}
	entries = append(entries, beats...)
	var leftOpen beam.PCollection
	if cfg.Lookback > 0 && !cfg.Range.IsSet() { // a backfill closes its range, nothing else
		// A live job also announces the closed buckets its predecessor died before announcing.
		leftOpen = heartbeat.Lookback(s, t, cfg.Lookback, cfg.NowMs, cfg.NotifyTopic != "" && cfg.Subscription != "")
	}
	fill := cfg.Subscription == "" && len(beats) == 0 // a replay whose reader sends no heartbeats
	switch {
	case fill && leftOpen.IsValid():
		entries = append(entries, heartbeat.FillGaps(s, cfg.Layout, seen, seenDead, leftOpen))
	case fill:
		entries = append(entries, heartbeat.FillGaps(s, cfg.Layout, seen, seenDead))
	case leftOpen.IsValid():
		entries = append(entries, heartbeat.Beats(s, leftOpen))
	}
	return manifest.Close(s, manifest.Config{Target: t, Version: cfg.Version, Schema: cfg.Schema, NowMs: cfg.NowMs, NotifyTopic: cfg.NotifyTopic, Progress: cfg.Progress, Gate: cfg.gate}, entries...)
}
