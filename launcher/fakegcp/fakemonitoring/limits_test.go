package fakemonitoring_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// lagFilter returns a valid system-lag filter of exactly n characters: a one_of list of
// job names, the last one padded.
func lagFilter(t *testing.T, n int) string {
	t.Helper()
	head := `metric.type = "dataflow.googleapis.com/job/system_lag" AND resource.type = "dataflow_job" AND resource.label.job_name = one_of(`
	var names []string
	for i := 0; len(head)+len(strings.Join(names, ", "))+60 < n; i++ {
		names = append(names, fmt.Sprintf(`"events-prod-mobile-app-playback-started-%03d"`, i))
	}
	body := strings.Join(names, ", ") + `, "x`
	pad := n - len(head) - len(body) - len(`")`)
	if pad < 0 {
		t.Fatalf("cannot build a filter of %d characters", n)
	}
	f := head + body + strings.Repeat("y", pad) + `")`
	if len(f) != n {
		t.Fatalf("built %d characters, want %d", len(f), n)
	}
	return f
}

func lagPolicy(filter string) *monitoringpb.AlertPolicy {
	return &monitoringpb.AlertPolicy{DisplayName: "lag", Conditions: []*monitoringpb.AlertPolicy_Condition{lagCondition(filter)}}
}

func lagCondition(filter string) *monitoringpb.AlertPolicy_Condition {
	return &monitoringpb.AlertPolicy_Condition{DisplayName: "c",
		Condition: &monitoringpb.AlertPolicy_Condition_ConditionThreshold{ConditionThreshold: &monitoringpb.AlertPolicy_Condition_MetricThreshold{
			Filter: filter, Comparison: monitoringpb.ComparisonType_COMPARISON_GT, Duration: durationpb.New(0),
		}}}
}

// The fake enforces alert.proto's limits, at the limit and one past it.
func TestAlertPolicyLimits(t *testing.T) {
	ctx := context.Background()
	srv, c := launchertest.Monitoring(t)
	const project = "mon-project"
	at := lagFilter(t, fakemonitoring.MaxFilterLength)
	if _, err := c.CreateAlertPolicy(ctx, project, lagPolicy(at)); err != nil {
		t.Fatalf("filter of exactly %d characters: %v", fakemonitoring.MaxFilterLength, err)
	}
	over := func(mod func(p *monitoringpb.AlertPolicy)) *monitoringpb.AlertPolicy {
		p := lagPolicy(`metric.type = "dataflow.googleapis.com/job/system_lag"`)
		mod(p)
		return p
	}
	labels := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	links := func(n int, name, url string) []*monitoringpb.AlertPolicy_Documentation_Link {
		var ls []*monitoringpb.AlertPolicy_Documentation_Link
		for range n {
			ls = append(ls, &monitoringpb.AlertPolicy_Documentation_Link{DisplayName: name, Url: url})
		}
		return ls
	}
	ok := []*monitoringpb.AlertPolicy{
		over(func(p *monitoringpb.AlertPolicy) { p.DisplayName = strings.Repeat("é", 512) }),
		over(func(p *monitoringpb.AlertPolicy) { p.UserLabels = labels(64) }),
		over(func(p *monitoringpb.AlertPolicy) {
			p.Documentation = &monitoringpb.AlertPolicy_Documentation{Content: strings.Repeat("a", 8192), Subject: strings.Repeat("s", 10240),
				Links: links(3, strings.Repeat("l", 63), "https://example.com/"+strings.Repeat("u", 2063))}
		}),
	}
	for i, p := range ok {
		if _, err := c.CreateAlertPolicy(ctx, project, p); err != nil {
			t.Errorf("policy %d at the limits: %v", i, err)
		}
	}
	for name, tc := range map[string]struct {
		p    *monitoringpb.AlertPolicy
		want string
	}{
		"filter of 2049 characters": {lagPolicy(lagFilter(t, 2049)), "the filter is 2049 characters long; it must not exceed 2048"},
		"denominator filter": {over(func(p *monitoringpb.AlertPolicy) {
			p.Conditions[0].GetConditionThreshold().DenominatorFilter = lagFilter(t, 2049)
		}), "denominator_filter: the filter is 2049 characters long"},
		"absence filter": {over(func(p *monitoringpb.AlertPolicy) {
			p.Conditions[0].Condition = &monitoringpb.AlertPolicy_Condition_ConditionAbsent{ConditionAbsent: &monitoringpb.AlertPolicy_Condition_MetricAbsence{
				Filter: lagFilter(t, 2049), Duration: durationpb.New(120e9)}}
		}), "condition_absent.filter: the filter is 2049 characters long"},
		"display name of 513": {over(func(p *monitoringpb.AlertPolicy) { p.DisplayName = strings.Repeat("é", 513) }), "display_name is 513 characters long; at most 512"},
		"7 conditions": {over(func(p *monitoringpb.AlertPolicy) {
			p.Combiner = monitoringpb.AlertPolicy_OR
			p.Conditions = slicesOf(lagCondition(p.Conditions[0].GetConditionThreshold().GetFilter()), 7)
		}), "7 conditions; at most 6"},
		"65 user labels":    {over(func(p *monitoringpb.AlertPolicy) { p.UserLabels = labels(65) }), "65 labels; at most 64"},
		"label value of 64": {over(func(p *monitoringpb.AlertPolicy) { p.UserLabels = map[string]string{"k": strings.Repeat("v", 64)} }), "limited to 63 characters or 128 bytes"},
		"content of 8193": {over(func(p *monitoringpb.AlertPolicy) {
			p.Documentation = &monitoringpb.AlertPolicy_Documentation{Content: strings.Repeat("a", 8193)}
		}), "8193 characters"},
		"content of 10241 bytes": {over(func(p *monitoringpb.AlertPolicy) {
			p.Documentation = &monitoringpb.AlertPolicy_Documentation{Content: strings.Repeat("é", 5121)}
		}), "10242 bytes"},
		"subject of 10241 bytes": {over(func(p *monitoringpb.AlertPolicy) {
			p.Documentation = &monitoringpb.AlertPolicy_Documentation{Subject: strings.Repeat("s", 10241)}
		}), "subject is 10241 bytes long"},
		"4 links": {over(func(p *monitoringpb.AlertPolicy) {
			p.Documentation = &monitoringpb.AlertPolicy_Documentation{Links: links(4, "l", "https://x")}
		}), "4 links; at most 3"},
		"link display name of 64": {over(func(p *monitoringpb.AlertPolicy) {
			p.Documentation = &monitoringpb.AlertPolicy_Documentation{Links: links(1, strings.Repeat("l", 64), "https://x")}
		}), "display_name at most 63"},
		"empty PromQL query": {over(func(p *monitoringpb.AlertPolicy) {
			p.Conditions[0].Condition = &monitoringpb.AlertPolicy_Condition_ConditionPrometheusQueryLanguage{ConditionPrometheusQueryLanguage: &monitoringpb.AlertPolicy_Condition_PrometheusQueryLanguageCondition{Query: " "}}
		}), "query must not be empty"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.CreateAlertPolicy(ctx, project, tc.p)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want INVALID_ARGUMENT %q", err, tc.want)
			}
		})
	}
	// An update is held to the same limits.
	created := srv.AlertPolicies(project)[0]
	created.Conditions[0].GetConditionThreshold().Filter = lagFilter(t, 2049)
	if _, err := c.UpdateAlertPolicy(ctx, created); status.Code(err) != codes.InvalidArgument {
		t.Errorf("update past the filter limit: %v, want INVALID_ARGUMENT", err)
	}
	if n := len(srv.AlertPolicies(project)); n != 1+len(ok) {
		t.Errorf("%d policies stored, want %d", n, 1+len(ok))
	}
}

func slicesOf[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}
