// Package fakeserver holds what the fakes under launcher/fakegcp share: per-method fault and
// latency injection with call counts ([Injector]), and serving a fake on a local gRPC port
// ([Listen]).
package fakeserver

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Fault makes calls of one method fail.
type Fault struct {
	// Code is the gRPC code returned, e.g. codes.Unavailable.
	Code codes.Code
	// Message is the status message; a default is used when empty.
	Message string
	// Probability of failing each call, in (0, 1]; 0 means every call (up to Count).
	Probability float64
	// Count limits how many calls fail; 0 means no limit.
	Count int
	// AfterEffect performs the call and then returns the error anyway, as when a response
	// is lost: the call takes effect although the client sees an error.
	AfterEffect bool
}

type fault struct {
	Fault
	fired int
}

// Config is the injection a fake's options set before its Injector exists.
type Config struct {
	// Seed seeds the random source of probabilistic faults.
	Seed    int64
	faults  map[string][]Fault
	latency map[string]time.Duration
}

// AddFault adds a fault to a method's faults.
func (c *Config) AddFault(method string, f Fault) {
	if c.faults == nil {
		c.faults = map[string][]Fault{}
	}
	c.faults[method] = append(c.faults[method], f)
}

// SetLatency sets the latency of a method.
func (c *Config) SetLatency(method string, d time.Duration) {
	if c.latency == nil {
		c.latency = map[string]time.Duration{}
	}
	c.latency[method] = d
}

// Injector applies injected latency and faults to the methods of one fake and counts their
// calls. It is safe for concurrent use.
type Injector struct {
	name    string // the fake's package name, for default messages
	prefix  string // of the full method names it applies to
	mu      sync.Mutex
	rand    *rand.Rand
	faults  map[string][]*fault
	latency map[string]time.Duration
	calls   map[string]int
}

// NewInjector returns an Injector for the fake called name, applying to the gRPC methods
// whose full names start with servicePrefix (e.g. "/google.dataflow.v1beta3.").
func NewInjector(name, servicePrefix string, cfg Config) *Injector {
	in := &Injector{
		name:    name,
		prefix:  servicePrefix,
		rand:    rand.New(rand.NewSource(cfg.Seed)),
		faults:  map[string][]*fault{},
		latency: map[string]time.Duration{},
		calls:   map[string]int{},
	}
	for method, fs := range cfg.faults {
		for _, f := range fs {
			in.faults[method] = append(in.faults[method], &fault{Fault: f})
		}
	}
	for method, d := range cfg.latency {
		in.latency[method] = d
	}
	return in
}

// UnaryInterceptor applies injected latency and faults to the injector's methods and counts
// calls; calls of other services pass through.
func (in *Injector) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, in.prefix) {
			return handler(ctx, req)
		}
		method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
		delay, inject := in.enter(method)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}
		if inject == nil {
			return handler(ctx, req)
		}
		msg := inject.Message
		if msg == "" {
			msg = fmt.Sprintf("%s: injected %s on %s", in.name, inject.Code, method)
		}
		if inject.AfterEffect {
			_, _ = handler(ctx, req)
		}
		return nil, status.Error(inject.Code, msg)
	}
}

// enter counts a call of method and returns its latency and the fault that fires, if any.
func (in *Injector) enter(method string) (time.Duration, *Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls[method]++
	for _, f := range in.faults[method] {
		if (f.Count == 0 || f.fired < f.Count) && (f.Probability == 0 || in.rand.Float64() < f.Probability) {
			f.fired++
			copied := f.Fault
			return in.latency[method], &copied
		}
	}
	return in.latency[method], nil
}

// SetFault injects a fault into a method, replacing the method's earlier faults; a zero
// Fault removes them.
func (in *Injector) SetFault(method string, f Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if f == (Fault{}) {
		delete(in.faults, method)
		return
	}
	in.faults[method] = []*fault{{Fault: f}}
}

// AddFault adds a fault to a method's faults.
func (in *Injector) AddFault(method string, f Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults[method] = append(in.faults[method], &fault{Fault: f})
}

// SetLatency sets the latency of a method.
func (in *Injector) SetLatency(method string, d time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.latency[method] = d
}

// Calls returns how many calls of a method reached the server (failed ones included).
func (in *Injector) Calls(method string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[method]
}

// FaultsFired returns how many calls of a method got an injected fault.
func (in *Injector) FaultsFired(method string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, f := range in.faults[method] {
		n += f.fired
	}
	return n
}

// Server is a gRPC server listening on a local port. A fake's Server embeds it with the
// fake's Service.
type Server struct {
	// Addr is host:port, for option.WithEndpoint or the fake's *_EMULATOR_HOST variable.
	Addr string
	gsrv *grpc.Server
}

// Fake is what a fake serves: its services, and the interceptor that applies its faults and
// latency (its [Injector]'s).
type Fake interface {
	Register(grpc.ServiceRegistrar)
	UnaryInterceptor() grpc.UnaryServerInterceptor
}

// Listen serves fake on addr. name prefixes errors.
func Listen(name, addr string, fake Fake) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", name, err)
	}
	gsrv := grpc.NewServer(grpc.UnaryInterceptor(fake.UnaryInterceptor()))
	fake.Register(gsrv)
	go func() { _ = gsrv.Serve(lis) }()
	return &Server{Addr: lis.Addr().String(), gsrv: gsrv}, nil
}

// Close stops the server.
func (s *Server) Close() error {
	s.gsrv.Stop()
	return nil
}
