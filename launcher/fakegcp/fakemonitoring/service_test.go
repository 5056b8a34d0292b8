package fakemonitoring_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	dashboard "cloud.google.com/go/monitoring/dashboard/apiv1"
	"cloud.google.com/go/monitoring/dashboard/apiv1/dashboardpb"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// clients are Google's own Cloud Monitoring clients connected to a fake.
type clients struct {
	srv        *fakemonitoring.Server
	metrics    *monitoring.MetricClient
	policies   *monitoring.AlertPolicyClient
	channels   *monitoring.NotificationChannelClient
	dashboards *dashboard.DashboardsClient
}

func connect(t *testing.T, opts ...fakemonitoring.Option) clients {
	t.Helper()
	ctx := context.Background()
	srv, err := fakemonitoring.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	o := gcpclient.Options(srv.Addr, nil)
	c := clients{srv: srv}
	if c.metrics, err = monitoring.NewMetricClient(ctx, o...); err != nil {
		t.Fatal(err)
	}
	if c.policies, err = monitoring.NewAlertPolicyClient(ctx, o...); err != nil {
		t.Fatal(err)
	}
	if c.channels, err = monitoring.NewNotificationChannelClient(ctx, o...); err != nil {
		t.Fatal(err)
	}
	if c.dashboards, err = dashboard.NewDashboardsClient(ctx, o...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.metrics.Close(); c.policies.Close(); c.channels.Close(); c.dashboards.Close() })
	return c
}

const (
	project = "mon-project"
	lag     = `metric.type = "dataflow.googleapis.com/job/system_lag"`
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// seedLag writes one system_lag point at t0 for each job name.
func seedLag(c clients, jobs ...string) {
	for i, j := range jobs {
		c.srv.AddPoints("dataflow.googleapis.com/job/system_lag", map[string]string{"job_id": "id-" + j}, "dataflow_job",
			map[string]string{"project_id": project, "job_name": j, "region": "europe-west1"}, fakemonitoring.Point{Time: t0, Value: float64(10 * (i + 1))})
	}
}

// listJobs returns the job_name of every series a filter selects, in order.
func listJobs(ctx context.Context, c clients, filter string) ([]string, error) {
	it := c.metrics.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{Name: "projects/" + project, Filter: filter,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(t0.Add(-time.Hour)), EndTime: timestamppb.New(t0.Add(time.Minute))}})
	series, err := gcpclient.Collect(it.Next)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ts := range series {
		out = append(out, ts.GetResource().GetLabels()["job_name"])
	}
	return out, nil
}

// The filter language: each case one construct, by the series it selects.
func TestFilterSelects(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	seedLag(c, "events-a", "events-b", "other-c")
	for _, tc := range []struct {
		name, filter string
		want         string
	}{
		{"metric type alone", lag, "events-a events-b other-c"},
		{"equality", lag + ` AND resource.label.job_name = "events-b"`, "events-b"},
		{"labels plural spelling", lag + ` AND resource.labels.job_name = "events-b"`, "events-b"},
		{"inequality", lag + ` AND resource.label.job_name != "events-b"`, "events-a other-c"},
		{"one_of", lag + ` AND resource.label.job_name = one_of("events-a", "other-c")`, "events-a other-c"},
		{"starts_with", lag + ` AND resource.label.job_name = starts_with("events-")`, "events-a events-b"},
		{"ends_with", lag + ` AND resource.label.job_name = ends_with("-c")`, "other-c"},
		{"has_substring", lag + ` AND resource.label.job_name = has_substring("nts-b")`, "events-b"},
		{"has (:) operator", lag + ` AND resource.label.job_name : "other"`, "other-c"},
		{"regex full match", lag + ` AND resource.label.job_name = monitoring.regex.full_match("events-[ab]")`, "events-a events-b"},
		{"regex must match whole value", lag + ` AND resource.label.job_name = monitoring.regex.full_match("events")`, ""},
		{"NOT", lag + ` AND NOT resource.label.job_name = starts_with("events-")`, "other-c"},
		{"OR in parentheses", lag + ` AND (resource.label.job_name = "events-a" OR resource.label.job_name = "other-c")`, "events-a other-c"},
		{"juxtaposition is AND", lag + ` resource.label.job_name = "events-a"`, "events-a"},
		{"metric label", lag + ` AND metric.label.job_id = "id-events-b"`, "events-b"},
		{"resource type", lag + ` AND resource.type = "dataflow_job"`, "events-a events-b other-c"},
		{"project", lag + ` AND project = "` + project + `"`, "events-a events-b other-c"},
		{"no series", lag + ` AND resource.label.job_name = "nope"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listJobs(ctx, c, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("%s selects %q, want %q", tc.filter, s, tc.want)
			}
		})
	}
}

// Filters the real service refuses are INVALID_ARGUMENT with the reason, in
// ListTimeSeries and in alert conditions alike.
func TestFilterErrors(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	seedLag(c, "events-a")
	for _, tc := range []struct {
		name, filter, want string
	}{
		{"empty", "", "filter is empty"},
		{"no metric type", `resource.type = "dataflow_job"`, "must select exactly one metric type"},
		{"two metric types", lag + ` OR metric.type = "dataflow.googleapis.com/job/is_failed"`, "must be compared with = to one metric type"},
		{"metric type negated", `metric.type != "dataflow.googleapis.com/job/system_lag"`, "must be compared with = to one metric type"},
		{"unknown metric", `metric.type = "dataflow.googleapis.com/job/sytem_lag"`, "cannot find metric(s)"},
		{"unknown field", lag + ` AND resource.name = "x"`, `unknown field "resource.name"`},
		{"label the resource lacks", lag + ` AND resource.label.subscription_id = "x"`, `has no label "subscription_id"`},
		{"label the metric lacks", lag + ` AND metric.label.ptransform = "x"`, `has no label "ptransform"`},
		{"wrong resource type", lag + ` AND resource.type = "pubsub_subscription"`, "is not written for resource type"},
		{"unknown function", lag + ` AND resource.label.job_name = contains("a")`, "unknown function contains"},
		{"function with two arguments", lag + ` AND resource.label.job_name = starts_with("a", "b")`, "takes one argument, got 2"},
		{"function with <", lag + ` AND resource.label.job_name < starts_with("a")`, "must be compared with = or !="},
		{"bad regular expression", lag + ` AND resource.label.job_name = monitoring.regex.full_match("(")`, "monitoring.regex.full_match"},
		{"unterminated string", `metric.type = "dataflow.googleapis.com/job/system_lag`, "unterminated"},
		{"unbalanced parenthesis", `(` + lag, "expected ')'"},
		{"dangling AND", lag + ` AND`, "unexpected end of filter"},
		{"missing value", lag + ` AND resource.label.job_name =`, "expected a value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := listJobs(ctx, c, tc.filter)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ListTimeSeries %q: %v, want INVALID_ARGUMENT with %q", tc.filter, err, tc.want)
			}
			_, err = c.policies.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: "projects/" + project, AlertPolicy: lagPolicy(tc.filter)})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CreateAlertPolicy %q: %v, want INVALID_ARGUMENT with %q", tc.filter, err, tc.want)
			}
		})
	}
	if n := len(c.srv.AlertPolicies(project)); n != 0 {
		t.Errorf("%d policies stored after refusals, want 0", n)
	}
}

func promPolicy(q string) *monitoringpb.AlertPolicy {
	return &monitoringpb.AlertPolicy{DisplayName: "prom", Conditions: []*monitoringpb.AlertPolicy_Condition{{DisplayName: "c",
		Condition: &monitoringpb.AlertPolicy_Condition_ConditionPrometheusQueryLanguage{ConditionPrometheusQueryLanguage: &monitoringpb.AlertPolicy_Condition_PrometheusQueryLanguageCondition{
			Query: q, Duration: durationpb.New(time.Minute)}}}}}
}

// The PromQL subset: queries accepted, and refused with the reason.
func TestPromQL(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	const lagM = "dataflow_googleapis_com:job_system_lag"
	if got := fakemonitoring.PromQLName("dataflow.googleapis.com/job/system_lag"); got != lagM {
		t.Errorf("PromQLName: %q, want %q", got, lagM)
	}
	for _, tc := range []struct {
		name, query, want string // want "" means accepted
	}{
		{"bare metric", lagM, ""},
		{"comparison", lagM + ` > 600`, ""},
		{"matchers", lagM + `{job_name="events-a", region=~"europe-.*"}`, ""},
		{"name matcher", `{__name__="` + lagM + `"}`, ""},
		{"function and range", `max_over_time(` + lagM + `[10m]) > 300`, ""},
		{"subquery range", `max_over_time(` + lagM + `[10m:1m])`, ""},
		{"aggregation by", `max by (job_name) (` + lagM + `)`, ""},
		{"aggregation by after", `sum(` + lagM + `) by (job_name)`, ""},
		{"absent", `absent(` + lagM + `{job_name="events-a"})`, ""},
		{"two metrics", lagM + ` and on(job_name) dataflow_googleapis_com:job_is_failed`, ""},
		{"empty", "  ", "empty"},
		{"unknown metric", `dataflow_googleapis_com:job_sytem_lag > 1`, `unknown metric "dataflow_googleapis_com:job_sytem_lag"`},
		{"unknown function", `maximum(` + lagM + `)`, `unknown function "maximum"`},
		{"bad range", lagM + `[10 minutes]`, "bad range"},
		{"unclosed range", lagM + `[10m`, "unclosed '['"},
		{"unclosed parenthesis", `max(` + lagM, "unclosed '('"},
		{"stray parenthesis", lagM + `)`, "unexpected ')'"},
		{"unclosed braces", lagM + `{job_name="a"`, "unclosed '{'"},
		{"bad matcher", lagM + `{job_name=a}`, "bad label matcher"},
		{"label the metric lacks", lagM + `{subscription_id="a"}`, `has no label "subscription_id"`},
		{"bad regex matcher", lagM + `{job_name=~"("}`, "bad regular expression"},
		{"no metric", `1 > 0`, "selects no metric"},
		{"unterminated string", lagM + ` > "a`, "unterminated string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.policies.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: "projects/" + project, AlertPolicy: promPolicy(tc.query)})
			if tc.want == "" {
				if err != nil {
					t.Errorf("%q refused: %v", tc.query, err)
				}
				return
			}
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q: %v, want INVALID_ARGUMENT with %q", tc.query, err, tc.want)
			}
		})
	}
	// A custom metric becomes known once written.
	custom := "custom_googleapis_com:eventdelivery_launch_failed"
	if _, err := c.policies.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: "projects/" + project, AlertPolicy: promPolicy(custom)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unwritten custom metric: %v, want INVALID_ARGUMENT", err)
	}
	if err := c.metrics.CreateTimeSeries(ctx, &monitoringpb.CreateTimeSeriesRequest{Name: "projects/" + project,
		TimeSeries: []*monitoringpb.TimeSeries{gaugeSeries("custom.googleapis.com/eventdelivery/launch_failed", 1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.policies.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: "projects/" + project, AlertPolicy: promPolicy(custom + " > 0")}); err != nil {
		t.Errorf("written custom metric: %v", err)
	}
}

// Lists come in pages of at most the page size, in name order, with tokens that end.
func TestPagination(t *testing.T) {
	ctx := context.Background()
	c := connect(t, fakemonitoring.WithPageSize(3))
	var want []string
	for i := range 7 {
		p, err := c.policies.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: "projects/" + project,
			AlertPolicy: &monitoringpb.AlertPolicy{DisplayName: fmt.Sprintf("p%d", i), Conditions: lagPolicy(lag).Conditions}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p.GetName())
	}
	t.Run("pages", func(t *testing.T) {
		var sizes []int
		var names []string
		token := ""
		for {
			resp, err := listPage(ctx, c, token, 10)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(resp.GetAlertPolicies()))
			for _, p := range resp.GetAlertPolicies() {
				names = append(names, p.GetName())
			}
			if resp.GetTotalSize() != 7 {
				t.Errorf("total_size %d, want 7", resp.GetTotalSize())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if fmt.Sprint(sizes) != "[3 3 1]" {
			t.Errorf("page sizes %v, want [3 3 1] (page_size 10 capped at 3)", sizes)
		}
		slices.Sort(want)
		if fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("listed %v, want %v", names, want)
		}
	})
	t.Run("iterator follows tokens", func(t *testing.T) {
		it := c.policies.ListAlertPolicies(ctx, &monitoringpb.ListAlertPoliciesRequest{Name: "projects/" + project})
		policies, err := gcpclient.Collect(it.Next)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(policies); n != 7 {
			t.Errorf("iterator gave %d policies, want 7", n)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		_, err := listPage(ctx, c, "%%%", 0)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("bad page token: %v, want INVALID_ARGUMENT", err)
		}
	})
	t.Run("time series pages", func(t *testing.T) {
		seedLag(c, "j1", "j2", "j3", "j4")
		got, err := listJobs(ctx, c, lag)
		if err != nil || len(got) != 4 {
			t.Errorf("four series over pages of 3: %v %v", got, err)
		}
	})
}

// Errors carry the codes Cloud Monitoring uses.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	c := connect(t)
	parent := "projects/" + project
	missing := parent + "/alertPolicies/123"
	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		want string
	}{
		{"get missing policy", func() error {
			_, err := c.policies.GetAlertPolicy(ctx, &monitoringpb.GetAlertPolicyRequest{Name: missing})
			return err
		}, codes.NotFound, "does not exist"},
		{"delete missing policy", func() error {
			return c.policies.DeleteAlertPolicy(ctx, &monitoringpb.DeleteAlertPolicyRequest{Name: missing})
		}, codes.NotFound, "does not exist"},
		{"update missing policy", func() error {
			p := lagPolicy(lag)
			p.Name = missing
			_, err := c.policies.UpdateAlertPolicy(ctx, &monitoringpb.UpdateAlertPolicyRequest{AlertPolicy: p})
			return err
		}, codes.NotFound, "does not exist"},
		{"malformed policy name", func() error {
			_, err := c.policies.GetAlertPolicy(ctx, &monitoringpb.GetAlertPolicyRequest{Name: "alertPolicies/1"})
			return err
		}, codes.InvalidArgument, ""},
		{"policy without conditions", func() error {
			_, err := c.policies.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: parent, AlertPolicy: &monitoringpb.AlertPolicy{DisplayName: "x"}})
			return err
		}, codes.InvalidArgument, ""},
		{"channel that does not exist", func() error {
			p := lagPolicy(lag)
			p.NotificationChannels = []string{parent + "/notificationChannels/9"}
			_, err := c.policies.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: parent, AlertPolicy: p})
			return err
		}, codes.InvalidArgument, ""},
		{"get missing channel", func() error {
			_, err := c.channels.GetNotificationChannel(ctx, &monitoringpb.GetNotificationChannelRequest{Name: parent + "/notificationChannels/9"})
			return err
		}, codes.NotFound, ""},
		{"list with a filter", func() error {
			_, err := c.policies.ListAlertPolicies(ctx, &monitoringpb.ListAlertPoliciesRequest{Name: parent, Filter: `display_name = "x"`}).Next()
			return err
		}, codes.InvalidArgument, "not supported"},
		{"get missing metric descriptor", func() error {
			_, err := c.metrics.GetMetricDescriptor(ctx, &monitoringpb.GetMetricDescriptorRequest{Name: parent + "/metricDescriptors/custom.googleapis.com/nope"})
			return err
		}, codes.NotFound, "does not exist"},
		{"write a built-in metric", func() error {
			return c.metrics.CreateTimeSeries(ctx, &monitoringpb.CreateTimeSeriesRequest{Name: parent, TimeSeries: []*monitoringpb.TimeSeries{gaugeSeries("dataflow.googleapis.com/job/is_failed", 1)}})
		}, codes.PermissionDenied, "written by Google Cloud, not through the API"},
		{"two points in one series", func() error {
			ts := gaugeSeries("custom.googleapis.com/x", 1)
			ts.Points = append(ts.Points, ts.Points[0])
			return c.metrics.CreateTimeSeries(ctx, &monitoringpb.CreateTimeSeriesRequest{Name: parent, TimeSeries: []*monitoringpb.TimeSeries{ts}})
		}, codes.InvalidArgument, ""},
		{"time series without interval end", func() error {
			_, err := c.metrics.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{Name: parent, Filter: lag}).Next()
			return err
		}, codes.InvalidArgument, "end_time is required"},
		{"dashboard created twice", func() error {
			d := &dashboardpb.Dashboard{Name: parent + "/dashboards/d1", DisplayName: "d", Layout: &dashboardpb.Dashboard_GridLayout{GridLayout: &dashboardpb.GridLayout{}}}
			if _, err := c.dashboards.CreateDashboard(ctx, &dashboardpb.CreateDashboardRequest{Parent: parent, Dashboard: d}); err != nil {
				return fmt.Errorf("first create: %w", err)
			}
			_, err := c.dashboards.CreateDashboard(ctx, &dashboardpb.CreateDashboardRequest{Parent: parent, Dashboard: d})
			return err
		}, codes.AlreadyExists, "already exists"},
		{"dashboard updated with a stale etag", func() error {
			d, err := c.dashboards.CreateDashboard(ctx, &dashboardpb.CreateDashboardRequest{Parent: parent,
				Dashboard: &dashboardpb.Dashboard{DisplayName: "e", Layout: &dashboardpb.Dashboard_GridLayout{GridLayout: &dashboardpb.GridLayout{}}}})
			if err != nil {
				return fmt.Errorf("create: %w", err)
			}
			stale := d.GetEtag()
			d.DisplayName = "e2"
			if _, err := c.dashboards.UpdateDashboard(ctx, &dashboardpb.UpdateDashboardRequest{Dashboard: d}); err != nil {
				return fmt.Errorf("first update: %w", err)
			}
			d.Etag, d.DisplayName = stale, "e3"
			_, err = c.dashboards.UpdateDashboard(ctx, &dashboardpb.UpdateDashboardRequest{Dashboard: d})
			return err
		}, codes.Aborted, "was changed since it was read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.want) {
				t.Errorf("got %v, want %s with %q", err, tc.code, tc.want)
			}
		})
	}
}

func gaugeSeries(metricType string, v int64) *monitoringpb.TimeSeries {
	return &monitoringpb.TimeSeries{
		Metric:   &metricpb.Metric{Type: metricType},
		Resource: &monitoredres.MonitoredResource{Type: "global", Labels: map[string]string{"project_id": project}},
		Points: []*monitoringpb.Point{{Interval: &monitoringpb.TimeInterval{EndTime: timestamppb.New(t0)},
			Value: &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_Int64Value{Int64Value: v}}}},
	}
}

// listPage makes one ListAlertPolicies call, through the generated gRPC stub (Google's
// client hides pages behind its iterator), and returns the response.
func listPage(ctx context.Context, c clients, token string, size int32) (*monitoringpb.ListAlertPoliciesResponse, error) {
	conn, err := grpc.NewClient(c.srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return monitoringpb.NewAlertPolicyServiceClient(conn).ListAlertPolicies(ctx,
		&monitoringpb.ListAlertPoliciesRequest{Name: "projects/" + project, PageToken: token, PageSize: size})
}
