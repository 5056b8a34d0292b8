package fakemonitoring_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func createLag(ctx context.Context, c clients) (*monitoringpb.AlertPolicy, error) {
	return c.policies.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: "projects/" + project, AlertPolicy: lagPolicy(lag)})
}

// The options and setters, one behaviour each.
func TestOptions(t *testing.T) {
	ctx := context.Background()
	t.Run("fault for the next call", func(t *testing.T) {
		c := connect(t, fakemonitoring.WithFault(fakemonitoring.MethodCreateAlertPolicy, fakemonitoring.Fault{Code: codes.Unavailable, Count: 1}))
		if _, err := createLag(ctx, c); status.Code(err) != codes.Unavailable {
			t.Errorf("first create: %v, want UNAVAILABLE", err)
		}
		if _, err := createLag(ctx, c); err != nil {
			t.Errorf("second create: %v", err)
		}
		if n := len(c.srv.AlertPolicies(project)); n != 1 || c.srv.FaultsFired(fakemonitoring.MethodCreateAlertPolicy) != 1 {
			t.Errorf("%d policies, %d faults fired; want 1 and 1", n, c.srv.FaultsFired(fakemonitoring.MethodCreateAlertPolicy))
		}
	})
	t.Run("fault after the effect", func(t *testing.T) {
		c := connect(t, fakemonitoring.WithFault(fakemonitoring.MethodCreateAlertPolicy, fakemonitoring.Fault{Code: codes.DeadlineExceeded, AfterEffect: true, Count: 1}))
		if _, err := createLag(ctx, c); status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("create: %v, want DEADLINE_EXCEEDED", err)
		}
		if n := len(c.srv.AlertPolicies(project)); n != 1 {
			t.Errorf("%d policies, want 1: the call took effect", n)
		}
	})
	t.Run("probabilistic faults follow the seed", func(t *testing.T) {
		run := func() string {
			// CreateAlertPolicy, which Google's client does not retry.
			c := connect(t, fakemonitoring.WithSeed(7), fakemonitoring.WithFault(fakemonitoring.MethodCreateAlertPolicy, fakemonitoring.Fault{Code: codes.Unavailable, Probability: 0.5}))
			var b strings.Builder
			for range 20 {
				_, err := createLag(ctx, c)
				b.WriteString(status.Code(err).String()[:1])
			}
			return b.String()
		}
		a, b := run(), run()
		if a != b || !strings.Contains(a, "U") || !strings.Contains(a, "O") {
			t.Errorf("two runs with seed 7: %s and %s, want the same mix of UNAVAILABLE and OK", a, b)
		}
	})
	t.Run("latency respects the deadline", func(t *testing.T) {
		c := connect(t, fakemonitoring.WithLatency(fakemonitoring.MethodListAlertPolicies, time.Hour))
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := c.policies.ListAlertPolicies(cctx, &monitoringpb.ListAlertPoliciesRequest{Name: "projects/" + project}).Next(); status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("list: %v, want DEADLINE_EXCEEDED", err)
		}
	})
	t.Run("clock replaced", func(t *testing.T) {
		c := connect(t, fakemonitoring.WithClock(func() time.Time { return t0 }))
		later := t0.Add(time.Hour)
		c.srv.SetTimeNow(func() time.Time { return later })
		p, err := createLag(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.GetCreationRecord().GetMutateTime().AsTime(); !got.Equal(later) {
			t.Errorf("created at %s, want %s", got, later)
		}
	})
	t.Run("metrics scope set on a running server", func(t *testing.T) {
		c := connect(t)
		c.srv.AddPoints("dataflow.googleapis.com/job/system_lag", map[string]string{"job_id": "x"}, "dataflow_job",
			map[string]string{"project_id": "proj-000", "job_name": "events-x", "region": "europe-west1"}, fakemonitoring.Point{Time: t0, Value: 5})
		if got, err := listJobs(ctx, c, lag); err != nil || len(got) != 0 {
			t.Errorf("before the scope: %v %v, want no series of proj-000", got, err)
		}
		c.srv.SetMetricsScope(project, "proj-000")
		if got, err := listJobs(ctx, c, lag); err != nil || strings.Join(got, ",") != "events-x" {
			t.Errorf("with proj-000 in the scope: %v %v, want events-x", got, err)
		}
	})
}
