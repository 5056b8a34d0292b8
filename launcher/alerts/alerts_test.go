package alerts_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

const monProject = "mon-project"

type env struct {
	srv *fakemonitoring.Server
	api monitoring.API
	dir string
	ch  string
}

func setup(t *testing.T) *env {
	t.Helper()
	srv, c := launchertest.Monitoring(t)
	return &env{srv: srv, api: c, dir: t.TempDir(), ch: srv.AddNotificationChannel(monProject, "oncall@example.com")}
}

// fleetFile writes a fleet of n event types with an alerts block (extra is appended to
// it, indented by 4) and loads it.
func (e *env) fleetFile(t *testing.T, n int, extra string) *fleet.Fleet {
	t.Helper()
	block := fmt.Sprintf("  alerts:\n    project: %s\n    notification_channels: [%s]\n%s", monProject, e.ch, extra)
	return launchertest.Load(t, e.dir, launchertest.Spec{EventTypes: n, PerProject: 24, Extra: block})
}

func (e *env) plan(t *testing.T, f *fleet.Fleet) *alerts.Plan {
	t.Helper()
	desired, err := alerts.Desired(f)
	if err != nil {
		t.Fatal(err)
	}
	cur, problems, err := alerts.Observe(context.Background(), e.api, monProject, desired)
	if err != nil {
		t.Fatal(err)
	}
	return alerts.Compute(f, monProject, desired, cur, problems)
}

func (e *env) apply(t *testing.T, f *fleet.Fleet) *alerts.Plan {
	t.Helper()
	p := e.plan(t, f)
	if _, err := alerts.Apply(context.Background(), e.api, p, alerts.Options{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return p
}

func TestApply300TypesIdempotentAndScoped(t *testing.T) {
	e := setup(t)
	// A hand-made policy in the same project must never be touched.
	hand, err := e.api.CreateAlertPolicy(context.Background(), monProject, &monitoringpb.AlertPolicy{
		DisplayName: "hand-made: CPU",
		UserLabels:  map[string]string{"team": "sre"},
		Conditions: []*monitoringpb.AlertPolicy_Condition{{DisplayName: "lag", Condition: &monitoringpb.AlertPolicy_Condition_ConditionThreshold{
			ConditionThreshold: &monitoringpb.AlertPolicy_Condition_MetricThreshold{
				Filter:     `metric.type = "dataflow.googleapis.com/job/system_lag" AND resource.label.job_name = "events-test-type-000"`,
				Comparison: monitoringpb.ComparisonType_COMPARISON_GT, ThresholdValue: 1, Duration: durationpb.New(0),
			}}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	f := e.fleetFile(t, 300, "")
	// The steps after the first apply need its policies.
	if !t.Run("first apply creates one policy per signal", func(t *testing.T) {
		p := e.apply(t, f)
		c := p.Counts()
		// 300 types, no overrides: one policy per signal (backlog: 3 × 100 subscriptions).
		if c.Create != 9 || c.Update+c.Delete != 0 || p.Foreign != 1 {
			t.Fatalf("first apply: %+v, foreign %d: %s", c, p.Foreign, p.Summary())
		}
	}) {
		return
	}
	t.Run("the project holds each signal's policy with the channel, and the hand-made one", func(t *testing.T) {
		got := e.srv.AlertPolicies(monProject)
		if len(got) != 10 {
			t.Fatalf("%d policies in the project, want 9 + 1 hand-made", len(got))
		}
		keys := map[string]bool{}
		for _, pol := range got {
			if alerts.Ours(pol, "events-test") {
				keys[pol.GetUserLabels()[alerts.LabelPolicy]] = true
				if len(pol.GetNotificationChannels()) != 1 || pol.GetNotificationChannels()[0] != e.ch {
					t.Errorf("%s: channels %v", pol.GetDisplayName(), pol.GetNotificationChannels())
				}
			}
		}
		for _, k := range []string{"system-lag", "data-freshness", "job-down", "hours-not-closed", "dead-letters", "backlog", "backlog-2", "backlog-3", "version-drift"} {
			if !keys[k] {
				t.Errorf("no policy %s; have %v", k, keys)
			}
		}
	})

	// A second apply changes nothing.
	t.Run("a second plan has no changes", func(t *testing.T) {
		if p := e.plan(t, f); p.HasChanges() || p.Counts().Unchanged != 9 {
			t.Errorf("second plan: %s", p.Summary())
		}
	})
	t.Run("a second apply makes no writes", func(t *testing.T) {
		calls := e.srv.Calls(fakemonitoring.MethodCreateAlertPolicy) + e.srv.Calls(fakemonitoring.MethodUpdateAlertPolicy) + e.srv.Calls(fakemonitoring.MethodDeleteAlertPolicy)
		e.apply(t, f)
		if n := e.srv.Calls(fakemonitoring.MethodCreateAlertPolicy) + e.srv.Calls(fakemonitoring.MethodUpdateAlertPolicy) + e.srv.Calls(fakemonitoring.MethodDeleteAlertPolicy); n != calls {
			t.Errorf("second apply made %d writes", n-calls)
		}
	})

	// A changed default threshold updates exactly that signal's policy, and the plan
	// says what changed.
	t.Run("a changed default threshold updates exactly that policy, with its diff", func(t *testing.T) {
		f2 := e.fleetFile(t, 300, "    system_lag: 15m\n")
		p := e.plan(t, f2)
		if c := p.Counts(); c.Update != 1 || c.Create+c.Delete != 0 {
			t.Fatalf("threshold change: %s", p.Summary())
		}
		for _, ch := range p.Changes {
			if ch.Action == alerts.Update {
				if ch.Key != "system-lag" || !strings.Contains(strings.Join(ch.Diff, "\n"), "conditions[0].threshold: 600 → 900") {
					t.Errorf("update %s diff %q", ch.Key, ch.Diff)
				}
			}
		}
		e.apply(t, f2)
	})

	// Removing event types: the backlog policy of the last 100 subscriptions goes, the
	// hand-made policy stays.
	t.Run("removing event types deletes the last backlog policy", func(t *testing.T) {
		f3 := e.fleetFile(t, 200, "    system_lag: 15m\n")
		p := e.apply(t, f3)
		var deleted []string
		for _, ch := range p.Changes {
			if ch.Action == alerts.Delete {
				deleted = append(deleted, ch.Key)
			}
		}
		if strings.Join(deleted, ",") != "backlog-3" {
			t.Errorf("deleted %v, want backlog-3 (plan %s)", deleted, p.Summary())
		}
	})
	t.Run("the hand-made policy was never touched", func(t *testing.T) {
		if _, err := e.api.(interface {
			ListAlertPolicies(context.Context, string) ([]*monitoringpb.AlertPolicy, error)
		}).ListAlertPolicies(context.Background(), monProject); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, pol := range e.srv.AlertPolicies(monProject) {
			if pol.GetName() == hand.GetName() {
				found = pol.GetDisplayName() == "hand-made: CPU" && pol.GetMutationRecord().GetMutateTime().AsTime().Equal(hand.GetMutationRecord().GetMutateTime().AsTime())
			}
		}
		if !found {
			t.Error("the hand-made policy was changed or deleted")
		}
	})
}

func TestOverridesGroupEventTypes(t *testing.T) {
	e := setup(t)
	f := e.fleetFile(t, 12, "")
	// Two event types get their own system lag threshold; one switches dead letters off.
	data, _ := os.ReadFile(f.Path)
	s := strings.Replace(string(data), "    schema: schemas/type_003.avsc\n", "    schema: schemas/type_003.avsc\n    alerts: {system_lag: 30m}\n", 1)
	s = strings.Replace(s, "    schema: schemas/type_007.avsc\n", "    schema: schemas/type_007.avsc\n    alerts: {system_lag: 30m, dead_letters_per_minute: \"off\"}\n", 1)
	if err := os.WriteFile(f.Path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Load(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	desired, err := alerts.Desired(f)
	if err != nil {
		t.Fatal(err)
	}
	var lag, dl []alerts.Policy
	for _, d := range desired {
		switch d.Signal {
		case alerts.SystemLag:
			lag = append(lag, d)
		case alerts.DeadLetters:
			dl = append(dl, d)
		}
	}
	if len(lag) != 2 || len(lag[0].EventTypes) != 10 || strings.Join(lag[1].EventTypes, ",") != "type-003,type-007" {
		t.Fatalf("system lag policies: %+v", lag)
	}
	filter := lag[0].Spec.GetConditions()[0].GetConditionThreshold().GetFilter()
	if !strings.Contains(filter, `starts_with("events-test-")`) || !strings.Contains(filter, `NOT resource.label.job_name = one_of("events-test-type-003", "events-test-type-007")`) {
		t.Errorf("default group filter %s", filter)
	}
	if got := lag[1].Spec.GetConditions()[0].GetConditionThreshold(); got.GetThresholdValue() != 1800 || !strings.Contains(got.GetFilter(), `one_of("events-test-type-003", "events-test-type-007")`) {
		t.Errorf("override filter %s threshold %v", got.GetFilter(), got.GetThresholdValue())
	}
	if len(dl) != 1 || !strings.Contains(dl[0].Spec.GetConditions()[0].GetConditionPrometheusQueryLanguage().GetQuery(), `job_name!~"events-test-type-007"`) {
		t.Errorf("dead letter policies %+v", dl)
	}
	// All of it is accepted by the fake's validation.
	p := e.plan(t, f)
	if _, err := alerts.Apply(context.Background(), e.api, p, alerts.Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestMissingChannelRefusesApply(t *testing.T) {
	e := setup(t)
	e.ch = "projects/" + monProject + "/notificationChannels/404"
	f := e.fleetFile(t, 3, "")
	p := e.plan(t, f)
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0], "does not exist") {
		t.Fatalf("problems %v", p.Problems)
	}
	_, err := alerts.Apply(context.Background(), e.api, p, alerts.Options{})
	var perr *alerts.ProblemsError
	if !asProblems(err, &perr) || len(e.srv.AlertPolicies(monProject)) != 0 {
		t.Errorf("apply with a missing channel: %v", err)
	}
}

func asProblems(err error, target **alerts.ProblemsError) bool {
	pe, ok := err.(*alerts.ProblemsError)
	*target = pe
	return ok
}

func TestFakeRejectsBadConditions(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	cond := func(filter string, agg *monitoringpb.Aggregation, dur int64) *monitoringpb.AlertPolicy {
		var aggs []*monitoringpb.Aggregation
		if agg != nil {
			aggs = append(aggs, agg)
		}
		return &monitoringpb.AlertPolicy{DisplayName: "x", Conditions: []*monitoringpb.AlertPolicy_Condition{{DisplayName: "c",
			Condition: &monitoringpb.AlertPolicy_Condition_ConditionThreshold{ConditionThreshold: &monitoringpb.AlertPolicy_Condition_MetricThreshold{
				Filter: filter, Aggregations: aggs, Comparison: monitoringpb.ComparisonType_COMPARISON_GT, Duration: durationpb.New(secs(dur)),
			}}}}}
	}
	lag := `metric.type = "dataflow.googleapis.com/job/system_lag"`
	for name, p := range map[string]*monitoringpb.AlertPolicy{
		"unknown metric":      cond(`metric.type = "dataflow.googleapis.com/job/system_lagg"`, nil, 60),
		"malformed filter":    cond(lag+` AND resource.label.job_name = starts_with("x"`, nil, 60),
		"unknown label":       cond(lag+` AND metric.label.jobid = "x"`, nil, 60),
		"wrong resource type": cond(lag+` AND resource.type = "gce_instance"`, nil, 60),
		"no metric type":      cond(`resource.type = "dataflow_job"`, nil, 60),
		"delta on a gauge":    cond(lag, &monitoringpb.Aggregation{AlignmentPeriod: durationpb.New(secs(60)), PerSeriesAligner: monitoringpb.Aggregation_ALIGN_DELTA}, 60),
		"reducer, no aligner": cond(lag, &monitoringpb.Aggregation{CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_MAX}, 60),
		"short alignment":     cond(lag, &monitoringpb.Aggregation{AlignmentPeriod: durationpb.New(secs(30)), PerSeriesAligner: monitoringpb.Aggregation_ALIGN_MAX}, 60),
		"duration in seconds": cond(lag, nil, 90),
		"unknown channel": func() *monitoringpb.AlertPolicy {
			p := cond(lag, nil, 60)
			p.NotificationChannels = []string{"projects/" + monProject + "/notificationChannels/1"}
			return p
		}(),
	} {
		if _, err := e.api.CreateAlertPolicy(ctx, monProject, p); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
		}
	}
	if n := len(e.srv.AlertPolicies(monProject)); n != 0 {
		t.Errorf("%d policies stored", n)
	}
}

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }
