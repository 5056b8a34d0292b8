// Package stop lets a pipeline binary stop its unbounded sources gracefully (on SIGINT or
// SIGTERM): they stop reading, finish what they read, and the pipeline drains.
package stop

import (
	"context"
	"sync/atomic"

	"github.com/eventdelivery/eventdelivery/internal/inprocess"
)

// A Stopper stops the sources it was given to (pubsubread.WithStopper, heartbeat.Clock)
// gracefully: they stop reading, finish, and an unbounded pipeline drains so that beam.Run
// returns. Typical use in a pipeline binary:
//
//	stopper := stop.New()
//	defer stopper.Release()
//	msgs := pubsubread.Read(s, sub, pubsubread.WithStopper(stopper))
//	sigCtx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer cancel()
//	stopper.StopWhenDone(sigCtx)
//	err := beam.Run(ctx, "prism", p) // ctx, not sigCtx: cancelling Run's context aborts the job
//
// DoFns are serialized, so a Stopper reaches its readers through a registry in this process
// (internal/inprocess), keyed by a unique name. It works where the DoFns run in the process
// that holds the Stopper: Prism (in-process, loopback workers) and the other loopback runners.
type Stopper struct {
	key string
}

var stoppers = inprocess.NewRegistry[*atomic.Bool]("stopper")

// New returns a Stopper that has not been stopped.
func New() *Stopper {
	return &Stopper{key: stoppers.Add(new(atomic.Bool))}
}

// Stop asks the readers to stop. It returns at once; beam.Run returns once the pipeline drained.
func (s *Stopper) Stop() {
	if f := stopFlag(s.key); f != nil {
		f.Store(true)
	}
}

// Stopped reports whether Stop was called.
func (s *Stopper) Stopped() bool { return Stopped(s.key) }

// Key names the Stopper in this process; DoFns keep the key (they are serialized) and ask
// Stopped(key).
func (s *Stopper) Key() string { return s.key }

// StopWhenDone calls Stop when ctx is done, e.g. a context from signal.NotifyContext.
func (s *Stopper) StopWhenDone(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
}

// Release forgets the Stopper once its pipeline has finished; readers still using it would
// then never stop.
func (s *Stopper) Release() { stoppers.Remove(s.key) }

func stopFlag(key string) *atomic.Bool {
	f, _ := stoppers.Get(key)
	return f
}

// Stopped reports whether the Stopper named key was stopped; false for the empty key.
func Stopped(key string) bool {
	if key == "" {
		return false
	}
	f := stopFlag(key)
	return f != nil && f.Load()
}
