package gcpclient

import "context"

// Limiter bounds how many calls are in flight at once: the launcher's one concurrency
// limit, beside the rate limits and retries. The decorators of launcher/dataflow wrap a
// client with one (launcher/dataflow.WithConcurrency); a fan-out over other work (manifest
// reads) calls [Limiter.Do] itself. A Limiter is safe for concurrent use; its zero value
// (and nil) does not limit.
type Limiter struct {
	slots chan struct{}
}

// NewLimiter returns a limiter of n calls in flight; n < 1 means 1.
func NewLimiter(n int) *Limiter {
	return &Limiter{slots: make(chan struct{}, max(1, n))}
}

// Do waits for a free slot, calls fn and frees the slot. It returns ctx's error, without
// calling fn, when ctx ends first.
func (l *Limiter) Do(ctx context.Context, fn func(context.Context) error) error {
	release, err := l.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return fn(ctx)
}

// Acquire waits for a free slot and returns the function that frees it, or ctx's error,
// holding nothing, when ctx has ended (before or while waiting). A fan-out acquires before
// it starts each piece of work, in order: work not started when ctx ends is left
// untouched, for the next run to do.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l == nil || l.slots == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Limit1 is [Limiter.Do] for a call that returns a value.
func Limit1[T any](ctx context.Context, l *Limiter, fn func(context.Context) (T, error)) (v T, err error) {
	err = l.Do(ctx, func(ctx context.Context) error { v, err = fn(ctx); return err })
	return v, err
}
