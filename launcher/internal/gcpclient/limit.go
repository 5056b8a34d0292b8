package gcpclient

import (
	"context"
	"sync"
)

// Limiter bounds how many calls are in flight at once: the launcher's one concurrency
// limit, beside the rate limits and retries. The decorators of launcher/dataflow wrap a
// client with one (launcher/dataflow.WithConcurrency); a fan-out over other work (launches,
// manifest reads) runs through [Limiter.Each] or [Limiter.Go], or calls [Limiter.Do]. A Limiter is safe for concurrent use; its zero value
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
		if err := ctx.Err(); err != nil { // both were ready: the end wins
			<-l.slots
			return nil, err
		}
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

// Each calls fn(0), …, fn(n-1), each in a goroutine of its own once it holds a slot of l,
// in order, and waits for them all. Once ctx has ended it starts no more: it returns how
// many it started, so that a fan-out leaves the rest untouched for the next run.
func (l *Limiter) Each(ctx context.Context, n int, fn func(i int)) (started int) {
	var wg sync.WaitGroup
	for i := range n {
		release, err := l.Acquire(ctx)
		if err != nil {
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release()
			fn(i)
		}()
	}
	wg.Wait()
	return started
}

// Go is [Limiter.Each] for work that can fail: fn(ctx, i) for i in 0..n-1, in order, at most
// l's limit at once. The first error ends the ctx the others run with and starts no more; Go
// returns it, or ctx's error when ctx ended before every piece started.
func (l *Limiter) Go(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var first error
	started := l.Each(ctx, n, func(i int) {
		if err := fn(ctx, i); err != nil {
			once.Do(func() { first = err; cancel() })
		}
	})
	if first != nil {
		return first
	}
	if started < n {
		return ctx.Err()
	}
	return nil
}
