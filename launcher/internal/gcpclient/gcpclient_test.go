package gcpclient_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, ""), true},
		{status.Error(codes.DeadlineExceeded, ""), true},
		{status.Error(codes.Aborted, ""), true},
		{status.Error(codes.Internal, ""), true},
		{status.Error(codes.ResourceExhausted, "Quota exceeded for quota metric 'Job requests'"), true},
		{status.Error(codes.ResourceExhausted, "Insufficient quota: active jobs"), false},
		{status.Error(codes.AlreadyExists, ""), false},
		{status.Error(codes.InvalidArgument, ""), false},
		{errors.New("plain"), false},
	} {
		if got := gcpclient.Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetryPolicyDo(t *testing.T) {
	ctx := context.Background()
	p := gcpclient.RetryPolicy{Attempts: 4, Initial: time.Microsecond, Max: time.Microsecond}
	unavailable := status.Error(codes.Unavailable, "")
	calls := 0
	err := p.Do(ctx, func(context.Context) error {
		if calls++; calls < 3 {
			return unavailable
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("two transient errors then success: err %v after %d calls, want nil after 3", err, calls)
	}
	calls = 0
	err = p.Do(ctx, func(context.Context) error { calls++; return unavailable })
	if !errors.Is(err, unavailable) || calls != 4 {
		t.Errorf("always unavailable: err %v after %d calls, want UNAVAILABLE after 4", err, calls)
	}
	calls = 0
	invalid := status.Error(codes.InvalidArgument, "")
	err = p.Do(ctx, func(context.Context) error { calls++; return invalid })
	if !errors.Is(err, invalid) || calls != 1 {
		t.Errorf("invalid argument: err %v after %d calls, want it after 1", err, calls)
	}
	v, err := gcpclient.Retry1(ctx, p, func(context.Context) (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Errorf("Retry1 = %d, %v", v, err)
	}
}

// At most n calls run at once: n calls block inside the limiter, the next one waits
// until one of them returns.
func TestLimiterBoundsCallsInFlight(t *testing.T) {
	ctx := context.Background()
	const n = 3
	l := gcpclient.NewLimiter(n)
	entered, release := make(chan int, 2*n), make(chan struct{})
	var wg sync.WaitGroup
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = l.Do(ctx, func(context.Context) error { entered <- i; <-release; return nil })
		}()
	}
	for range n {
		<-entered
	}
	// A call whose context ends while every slot is taken does not run.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	if err := l.Do(cctx, func(context.Context) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("cancelled while full: err %v, ran %v; want context.Canceled, not run", err, ran)
	}
	select {
	case i := <-entered:
		t.Fatalf("call %d entered while %d were in flight", i, n)
	default:
	}
	release <- struct{}{} // one of the first n returns: the last call enters
	<-entered
	close(release)
	wg.Wait()

	var unlimited *gcpclient.Limiter
	v, err := gcpclient.Limit1(ctx, unlimited, func(context.Context) (string, error) { return "ok", nil })
	if v != "ok" || err != nil {
		t.Errorf("nil limiter: %q, %v", v, err)
	}
}

// Acquire holds a slot until it is released; with ctx ended it holds nothing, even when a
// slot is free (a cancelled fan-out starts no more work).
func TestLimiterAcquire(t *testing.T) {
	ctx := context.Background()
	l := gcpclient.NewLimiter(1)
	release, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("acquire while full: %v, want the deadline", err)
	}
	release()
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	for range 100 {
		if _, err := l.Acquire(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("acquire with a free slot after cancel: %v, want context.Canceled", err)
		}
	}
	again, err := l.Acquire(ctx)
	if err != nil {
		t.Fatalf("the slot was not freed: %v", err)
	}
	again()
}

// Each runs every piece of a fan-out, at most the limit at once, and waits for them; once
// ctx ends it starts no more and says how many it started.
func TestLimiterEach(t *testing.T) {
	l := gcpclient.NewLimiter(3)
	var mu sync.Mutex
	ran, inFlight, most := map[int]bool{}, 0, 0
	started := l.Each(context.Background(), 10, func(i int) {
		mu.Lock()
		ran[i], inFlight = true, inFlight+1
		most = max(most, inFlight)
		mu.Unlock()
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	if started != 10 || len(ran) != 10 || most > 3 {
		t.Errorf("started %d, ran %d, at most %d at once; want 10, 10, ≤ 3", started, len(ran), most)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var after []int
	started = gcpclient.NewLimiter(1).Each(ctx, 10, func(i int) {
		after = append(after, i) // one slot: one at a time
		if i == 2 {
			cancel()
		}
	})
	if started != 3 || !slices.Equal(after, []int{0, 1, 2}) {
		t.Errorf("after a cancel in the third: started %d, ran %v; want 3, [0 1 2]", started, after)
	}
}

// Go returns the first error and starts nothing after it; a ctx ended first is its error.
func TestLimiterGo(t *testing.T) {
	boom := errors.New("boom")
	var ran []int
	err := gcpclient.NewLimiter(1).Go(context.Background(), 10, func(ctx context.Context, i int) error {
		ran = append(ran, i) // one slot: one at a time
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || !slices.Equal(ran, []int{0, 1, 2, 3}) {
		t.Errorf("Go = %v after %v; want boom after [0 1 2 3]", err, ran)
	}
	if err := gcpclient.NewLimiter(4).Go(context.Background(), 10, func(context.Context, int) error { return nil }); err != nil {
		t.Errorf("Go with no failure = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := gcpclient.NewLimiter(4).Go(ctx, 10, func(context.Context, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Go after a cancel = %v, want context.Canceled", err)
	}
}

// Collect returns what the iterator gave up to Done, or only the error it stopped with.
func TestCollect(t *testing.T) {
	iter := func(vals []int, end error) func() (int, error) {
		return func() (int, error) {
			if len(vals) == 0 {
				return 0, end
			}
			v := vals[0]
			vals = vals[1:]
			return v, nil
		}
	}
	if got, err := gcpclient.Collect(iter([]int{1, 2, 3}, iterator.Done)); err != nil || len(got) != 3 || got[2] != 3 {
		t.Errorf("Collect = %v, %v; want [1 2 3]", got, err)
	}
	boom := errors.New("boom")
	if got, err := gcpclient.Collect(iter([]int{1}, boom)); err != boom || got != nil {
		t.Errorf("Collect = %v, %v; want nil, boom", got, err)
	}
}

type fakeClient struct {
	name   string
	closed *[]string
}

func (c *fakeClient) Close() error { *c.closed = append(*c.closed, c.name); return nil }

// A failed dial closes the clients dialed before it and dials nothing after it; Close
// closes every client, in the order they were dialed.
func TestClients(t *testing.T) {
	var closed, dialed []string
	newClient := func(name string, err error) func(context.Context, ...option.ClientOption) (*fakeClient, error) {
		return func(context.Context, ...option.ClientOption) (*fakeClient, error) {
			dialed = append(dialed, name)
			if err != nil {
				return nil, err
			}
			return &fakeClient{name: name, closed: &closed}, nil
		}
	}
	boom := errors.New("boom")
	cs := gcpclient.NewClients(context.Background(), nil)
	a := gcpclient.Dial(cs, "x: a client", newClient("a", nil))
	b := gcpclient.Dial(cs, "x: b client", newClient("b", boom))
	c := gcpclient.Dial(cs, "x: c client", newClient("c", nil))
	err := cs.Err()
	if !errors.Is(err, boom) || err.Error() != "x: b client: boom" || a == nil || b != nil || c != nil {
		t.Errorf("dial a, b (fails), c: err %v, clients %v %v %v", err, a, b, c)
	}
	if !slices.Equal(dialed, []string{"a", "b"}) || !slices.Equal(closed, []string{"a"}) {
		t.Errorf("dialed %v, closed %v; want [a b], [a]", dialed, closed)
	}

	dialed, closed = nil, nil
	cs = gcpclient.NewClients(context.Background(), nil)
	gcpclient.Dial(cs, "x: a client", newClient("a", nil))
	gcpclient.Dial(cs, "x: b client", newClient("b", nil))
	if err := cs.Err(); err != nil || len(closed) != 0 {
		t.Fatalf("two good dials: err %v, closed %v", err, closed)
	}
	if err := cs.Close(); err != nil || !slices.Equal(closed, []string{"a", "b"}) {
		t.Errorf("Close: err %v, closed %v; want [a b]", err, closed)
	}
}

// Open returns the layer when every dial succeeds; else nil and the first failure, the
// clients dialed closed.
func TestOpen(t *testing.T) {
	type layer struct{ a, b *fakeClient }
	var closed []string
	newClient := func(name string, err error) func(context.Context, ...option.ClientOption) (*fakeClient, error) {
		return func(context.Context, ...option.ClientOption) (*fakeClient, error) {
			if err != nil {
				return nil, err
			}
			return &fakeClient{name: name, closed: &closed}, nil
		}
	}
	boom := errors.New("boom")
	l, err := gcpclient.Open(context.Background(), nil, func(cs *gcpclient.Clients) *layer {
		return &layer{a: gcpclient.Dial(cs, "x: a client", newClient("a", nil)), b: gcpclient.Dial(cs, "x: b client", newClient("b", boom))}
	})
	if l != nil || err == nil || err.Error() != "x: b client: boom" || !slices.Equal(closed, []string{"a"}) {
		t.Errorf("Open with a failing dial: %v, err %v, closed %v; want nil, x: b client: boom, [a]", l, err, closed)
	}
	closed = nil
	l, err = gcpclient.Open(context.Background(), nil, func(cs *gcpclient.Clients) *layer {
		return &layer{a: gcpclient.Dial(cs, "x: a client", newClient("a", nil)), b: gcpclient.Dial(cs, "x: b client", newClient("b", nil))}
	})
	if err != nil || l == nil || l.a == nil || l.b == nil || len(closed) != 0 {
		t.Errorf("Open with good dials: %v, err %v, closed %v", l, err, closed)
	}
}
