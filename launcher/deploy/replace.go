package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// IsIncompatible reports whether a launch error is Dataflow rejecting an in-place
// update because the new job graph is not compatible with the running one.
func IsIncompatible(err error) bool {
	st, ok := status.FromError(err)
	if !ok || (st.Code() != codes.FailedPrecondition && st.Code() != codes.InvalidArgument) {
		return false
	}
	return strings.Contains(strings.ToLower(st.Message()), "not compatible")
}

// replace drains the item's running job, waits until it has stopped and launches the
// new version under the same name. The successor closes the hours the drained job left
// open (DESIGN.md, drain and replace).
func replace(ctx context.Context, api dataflow.API, it plan.Item, r *ItemResult, opts Options) {
	if err := drainStopped(ctx, api, it.Current, opts); err != nil {
		r.Status, r.Error, r.Err = Failed, err.Error(), err
		return
	}
	it.Action = plan.Recreate
	launch(ctx, api, it, r, opts)
	if r.Status == Failed {
		r.Error = fmt.Sprintf("drained %s, then: %s", it.Current.ID, r.Error)
	}
}

// drainStopped drains a job and waits, at most DrainTimeout, until it has stopped.
func drainStopped(ctx context.Context, api dataflow.API, j *dataflow.Job, opts Options) error {
	// FAILED_PRECONDITION: it is draining or stopped already; the wait below tells.
	if _, err := api.Drain(ctx, j.Project, j.Region, j.ID); err != nil && status.Code(err) != codes.FailedPrecondition {
		return fmt.Errorf("drain %s: %w", j.ID, err)
	}
	// The drain is waited for as every wait is (WaitStopped), for at most DrainTimeout.
	o := opts
	o.WaitTimeout = opts.DrainTimeout
	got, err := WaitStopped(ctx, api, JobRef{Project: j.Project, Region: j.Region, ID: j.ID}, o, nil)
	switch {
	case errors.Is(err, ErrTimeout):
		return fmt.Errorf("drain %s: still %s after %s", j.ID, got.State, opts.DrainTimeout)
	case err != nil:
		return fmt.Errorf("drain %s: %w", j.ID, err)
	case got.State != dataflow.StateDrained:
		return fmt.Errorf("drain %s: job is %s", j.ID, got.State)
	}
	return nil
}
