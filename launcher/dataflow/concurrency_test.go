package dataflow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// held passes every call to the fake's client and counts it; a Get with project "hold"
// waits for release first.
type held struct {
	dataflow.API
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (h *held) Get(ctx context.Context, project, region, id string) (dataflow.Job, error) {
	h.calls.Add(1)
	if project == "hold" {
		h.entered <- struct{}{}
		<-h.release
	}
	return h.API.Get(ctx, project, region, id)
}

func (h *held) List(ctx context.Context, req dataflow.ListRequest) ([]dataflow.Job, error) {
	h.calls.Add(1)
	return h.API.List(ctx, req)
}

// With one call in flight, every method of the decorated API waits for it: a call whose
// context ends meanwhile never reaches the client; once the first returns, calls go through.
func TestWithConcurrencyBoundsEveryMethod(t *testing.T) {
	ctx := context.Background()
	_, c := launchertest.Dataflow(t)
	h := &held{API: c, entered: make(chan struct{}), release: make(chan struct{})}
	api := dataflow.WithConcurrency(h, 1)
	done := make(chan error)
	go func() { _, err := api.Get(ctx, "hold", "europe-west1", "x"); done <- err }()
	<-h.entered

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	calls := map[string]func() error{
		"Launch": func() error { _, err := api.Launch(cctx, dataflow.LaunchRequest{}); return err },
		"List":   func() error { _, err := api.List(cctx, dataflow.ListRequest{}); return err },
		"Get":    func() error { _, err := api.Get(cctx, "p", "r", "id"); return err },
		"Drain":  func() error { _, err := api.Drain(cctx, "p", "r", "id"); return err },
		"Cancel": func() error { _, err := api.Cancel(cctx, "p", "r", "id"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s while the one slot is taken, context cancelled: %v, want context.Canceled", name, err)
		}
	}
	if n := h.calls.Load(); n != 1 {
		t.Errorf("%d calls reached the client, want only the one in flight", n)
	}
	close(h.release)
	if err := <-done; err == nil {
		t.Error("Get of an unknown job succeeded")
	}
	if _, err := api.List(ctx, dataflow.ListRequest{Project: "proj-a", Region: "europe-west1", Filter: dataflow.All}); err != nil {
		t.Errorf("List after the slot is free: %v", err)
	}
	if n := h.calls.Load(); n != 2 {
		t.Errorf("%d calls reached the client, want 2", n)
	}
}
