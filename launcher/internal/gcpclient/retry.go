package gcpclient

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Transient reports whether an error is worth retrying: the service was unavailable, the
// call timed out, was aborted or failed inside the service, or a rate limit was hit.
// RESOURCE_EXHAUSTED is a rate limit unless it says a quota (of active jobs, CPUs, IPs)
// is insufficient: waiting a few seconds does not raise a quota.
func Transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Internal:
		return true
	case codes.ResourceExhausted:
		return !strings.Contains(strings.ToLower(status.Convert(err).Message()), "insufficient quota")
	}
	return false
}

// RetryPolicy retries with exponential backoff and full jitter. The launcher's layers over
// Dataflow and Cloud Monitoring both retry their idempotent calls with it.
type RetryPolicy struct {
	// Attempts is the most calls made, the first one included (default 6).
	Attempts int
	// Initial is the first backoff's upper bound (default 500ms).
	Initial time.Duration
	// Max caps the backoff (default 15s).
	Max time.Duration
	// Retryable decides which errors are retried (default Transient).
	Retryable func(error) bool
	// OnRetry, if set, is told about each retry.
	OnRetry func(attempt int, err error, wait time.Duration)
}

// WithDefaults returns p with every unset field at its default, so that a caller can
// extend the default Retryable.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 6
	}
	if p.Initial <= 0 {
		p.Initial = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 15 * time.Second
	}
	if p.Retryable == nil {
		p.Retryable = Transient
	}
	return p
}

// Backoff returns the wait before retry number n (1-based): uniformly random in
// [0, min(Max, Initial·2^(n-1))].
func (p RetryPolicy) Backoff(n int) time.Duration {
	p = p.WithDefaults()
	ceil := p.Initial
	for i := 1; i < n && ceil < p.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.Max)
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// Do calls fn until it succeeds, fails with an error that is not retryable, runs out of
// attempts or ctx ends. It returns fn's last error.
func (p RetryPolicy) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	p = p.WithDefaults()
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(ctx); err == nil || !p.Retryable(err) || attempt >= p.Attempts {
			return err
		}
		wait := p.Backoff(attempt)
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Retry1 is [RetryPolicy.Do] for a call that returns a value.
func Retry1[T any](ctx context.Context, p RetryPolicy, fn func(context.Context) (T, error)) (v T, err error) {
	err = p.Do(ctx, func(ctx context.Context) error { v, err = fn(ctx); return err })
	return v, err
}
