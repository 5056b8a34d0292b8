package dataflow

import (
	"context"
	"strings"

	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Transient reports whether an error is worth retrying (see [gcpclient.Transient]: the
// "insufficient quota" RESOURCE_EXHAUSTED is not).
func Transient(err error) bool { return gcpclient.Transient(err) }

// RetryPolicy is the launcher's retry policy, shared with launcher/monitoring; the name
// stays here for the callers that spell it dataflow.RetryPolicy.
type RetryPolicy = gcpclient.RetryPolicy

// WithRetry retries the idempotent calls of an API (List, Get, Drain, Cancel). Launch is
// passed through: a launch that fails may still have created its job, so only its caller
// can decide whether to launch again (see launcher/deploy).
func WithRetry(api API, p RetryPolicy) API { return retrying{api, p} }

type retrying struct {
	API
	p RetryPolicy
}

func (r retrying) List(ctx context.Context, req ListRequest) (jobs []Job, err error) {
	err = r.p.Do(ctx, func(ctx context.Context) error { jobs, err = r.API.List(ctx, req); return err })
	return jobs, err
}

func (r retrying) Get(ctx context.Context, project, region, id string) (j Job, err error) {
	err = r.p.Do(ctx, func(ctx context.Context) error { j, err = r.API.Get(ctx, project, region, id); return err })
	return j, err
}

func (r retrying) Drain(ctx context.Context, project, region, id string) (j Job, err error) {
	err = r.p.Do(ctx, func(ctx context.Context) error { j, err = r.API.Drain(ctx, project, region, id); return err })
	return j, err
}

// SetWorkers is retried: it sets absolute bounds, so a repeat does no harm.
func (r retrying) SetWorkers(ctx context.Context, project, region, id string, w Workers) (j Job, err error) {
	err = r.p.Do(ctx, func(ctx context.Context) error { j, err = r.API.SetWorkers(ctx, project, region, id, w); return err })
	return j, err
}

// Cancel also retries a job that is "not yet ready for canceling" (still starting), and
// takes "Job has terminated" as done: it returns the job as it ended.
func (r retrying) Cancel(ctx context.Context, project, region, id string) (j Job, err error) {
	p := r.p.WithDefaults()
	transient := p.Retryable
	p.Retryable = func(err error) bool { return transient(err) || NotReadyForCancel(err) }
	err = p.Do(ctx, func(ctx context.Context) error { j, err = r.API.Cancel(ctx, project, region, id); return err })
	if HasTerminated(err) {
		return r.Get(ctx, project, region, id)
	}
	return j, err
}

// NotReadyForCancel reports whether Dataflow refused a cancel because the job is still
// starting; it accepts the cancel a little later.
func NotReadyForCancel(err error) bool {
	return status.Code(err) == codes.FailedPrecondition && strings.Contains(status.Convert(err).Message(), "not yet ready for canceling")
}

// HasTerminated reports whether Dataflow refused to change a job because it has terminated.
func HasTerminated(err error) bool {
	return status.Code(err) == codes.FailedPrecondition && strings.Contains(status.Convert(err).Message(), "Job has terminated")
}

// WithRateLimit makes every call wait for a token: mutations (Launch, Drain, Cancel, SetWorkers) from
// write, reads (List, Get) from read. A nil limiter does not limit.
func WithRateLimit(api API, write, read *rate.Limiter) API { return limited{api, write, read} }

type limited struct {
	API
	write, read *rate.Limiter
}

func wait(ctx context.Context, l *rate.Limiter) error {
	if l == nil {
		return nil
	}
	return l.Wait(ctx)
}

func (l limited) Launch(ctx context.Context, req LaunchRequest) (Job, error) {
	if err := wait(ctx, l.write); err != nil {
		return Job{}, err
	}
	return l.API.Launch(ctx, req)
}

func (l limited) List(ctx context.Context, req ListRequest) ([]Job, error) {
	if err := wait(ctx, l.read); err != nil {
		return nil, err
	}
	return l.API.List(ctx, req)
}

func (l limited) Get(ctx context.Context, project, region, id string) (Job, error) {
	if err := wait(ctx, l.read); err != nil {
		return Job{}, err
	}
	return l.API.Get(ctx, project, region, id)
}

func (l limited) Drain(ctx context.Context, project, region, id string) (Job, error) {
	if err := wait(ctx, l.write); err != nil {
		return Job{}, err
	}
	return l.API.Drain(ctx, project, region, id)
}

func (l limited) Cancel(ctx context.Context, project, region, id string) (Job, error) {
	if err := wait(ctx, l.write); err != nil {
		return Job{}, err
	}
	return l.API.Cancel(ctx, project, region, id)
}

func (l limited) SetWorkers(ctx context.Context, project, region, id string, w Workers) (Job, error) {
	if err := wait(ctx, l.write); err != nil {
		return Job{}, err
	}
	return l.API.SetWorkers(ctx, project, region, id, w)
}

// WithLaunchPace paces launches per project: at most perMinute[project] a minute, after a
// burst of as many; projects not in the map are not paced. Every Flex Template launch
// starts a launcher VM that lives for minutes, so the pace bounds the VMs, CPUs and IP
// addresses a deploy holds at once in a project.
func WithLaunchPace(api API, perMinute map[string]int) API {
	p := &paced{API: api, limiters: map[string]*rate.Limiter{}}
	for project, n := range perMinute {
		if n > 0 {
			p.limiters[project] = rate.NewLimiter(rate.Limit(float64(n)/60), n)
		}
	}
	return p
}

type paced struct {
	API
	limiters map[string]*rate.Limiter // read-only after construction
}

func (p *paced) Launch(ctx context.Context, req LaunchRequest) (Job, error) {
	if err := wait(ctx, p.limiters[req.Project]); err != nil {
		return Job{}, err
	}
	return p.API.Launch(ctx, req)
}

// WithConcurrency lets at most n calls of api be in flight at once (n < 1 means 1): the
// launcher's one concurrency limit, so that a fan-out over hundreds of jobs starts a
// goroutine per job and the client, not each fan-out, bounds the calls.
func WithConcurrency(api API, n int) API { return concurrent{api, gcpclient.NewLimiter(n)} }

type concurrent struct {
	API
	l *gcpclient.Limiter
}

func (c concurrent) Launch(ctx context.Context, req LaunchRequest) (Job, error) {
	return gcpclient.Limit1(ctx, c.l, func(ctx context.Context) (Job, error) { return c.API.Launch(ctx, req) })
}

func (c concurrent) List(ctx context.Context, req ListRequest) ([]Job, error) {
	return gcpclient.Limit1(ctx, c.l, func(ctx context.Context) ([]Job, error) { return c.API.List(ctx, req) })
}

func (c concurrent) Get(ctx context.Context, project, region, id string) (Job, error) {
	return gcpclient.Limit1(ctx, c.l, func(ctx context.Context) (Job, error) { return c.API.Get(ctx, project, region, id) })
}

func (c concurrent) Drain(ctx context.Context, project, region, id string) (Job, error) {
	return gcpclient.Limit1(ctx, c.l, func(ctx context.Context) (Job, error) { return c.API.Drain(ctx, project, region, id) })
}

func (c concurrent) Cancel(ctx context.Context, project, region, id string) (Job, error) {
	return gcpclient.Limit1(ctx, c.l, func(ctx context.Context) (Job, error) { return c.API.Cancel(ctx, project, region, id) })
}
