package pubsubread

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
)

// A Stopper stops the readers it was given to (WithStopper) gracefully: they stop pulling,
// acknowledge what the runner committed, and finish, so that an unbounded pipeline drains and
// beam.Run returns. Typical use in a pipeline binary:
//
//	stopper := pubsubread.NewStopper()
//	defer stopper.Release()
//	msgs := pubsubread.Read(s, sub, pubsubread.WithStopper(stopper))
//	sigCtx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer cancel()
//	stopper.StopWhenDone(sigCtx)
//	err := beam.Run(ctx, "prism", p) // ctx, not sigCtx: cancelling Run's context aborts the job
//
// DoFns are serialized, so a Stopper reaches its readers through a registry in this process,
// keyed by a unique name. It works where the DoFns run in the process that holds the Stopper:
// Prism (in-process, loopback workers) and the other loopback runners.
type Stopper struct {
	key string
}

var (
	stopSeq  atomic.Int64
	stopMu   sync.Mutex
	stopRegs = map[string]*atomic.Bool{}
)

// NewStopper returns a Stopper that has not been stopped.
func NewStopper() *Stopper {
	key := "stopper-" + strconv.FormatInt(stopSeq.Add(1), 10)
	stopMu.Lock()
	stopRegs[key] = new(atomic.Bool)
	stopMu.Unlock()
	return &Stopper{key: key}
}

// Stop asks the readers to stop. It returns at once; beam.Run returns once the pipeline drained.
func (s *Stopper) Stop() {
	if f := stopFlag(s.key); f != nil {
		f.Store(true)
	}
}

// Stopped reports whether Stop was called.
func (s *Stopper) Stopped() bool { return stopped(s.key) }

// StopWhenDone calls Stop when ctx is done, e.g. a context from signal.NotifyContext.
func (s *Stopper) StopWhenDone(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
}

// Release forgets the Stopper once its pipeline has finished; readers still using it would
// then never stop.
func (s *Stopper) Release() {
	stopMu.Lock()
	delete(stopRegs, s.key)
	stopMu.Unlock()
}

func stopFlag(key string) *atomic.Bool {
	stopMu.Lock()
	defer stopMu.Unlock()
	return stopRegs[key]
}

func stopped(key string) bool {
	if key == "" {
		return false
	}
	f := stopFlag(key)
	return f != nil && f.Load()
}
