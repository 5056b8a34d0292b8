// Package monitoring is the launcher's thin layer over Google's Cloud Monitoring clients
// (cloud.google.com/go/monitoring/apiv3/v2 for alert policies, notification channels,
// metric descriptors and time series; dashboard/apiv1 for dashboards). It speaks the
// clients' own protobuf types; the launcher's logic lives in launcher/alerts and
// launcher/status.
//
// [Dial] uses Application Default Credentials, or, when Config.EmulatorHost is set (the
// launcher sets it from MONITORING_EMULATOR_HOST), an insecure gRPC connection without
// credentials to a fake such as launcher/fakegcp.
//
// [WithRetry] retries the calls that are safe to repeat (reads, updates, deletes) on
// transient errors. Creates are not retried: a create whose answer was lost may have
// taken effect, and only the caller can tell (launcher/alerts deletes duplicates of its
// own policies on the next apply).
package monitoring

import (
	"context"

	mon "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	dash "cloud.google.com/go/monitoring/dashboard/apiv1"
	"cloud.google.com/go/monitoring/dashboard/apiv1/dashboardpb"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"google.golang.org/genproto/googleapis/api/label"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
)

// API is what the launcher needs from Cloud Monitoring. Projects are project ids.
type API interface {
	ListAlertPolicies(ctx context.Context, project string) ([]*monitoringpb.AlertPolicy, error)
	CreateAlertPolicy(ctx context.Context, project string, p *monitoringpb.AlertPolicy) (*monitoringpb.AlertPolicy, error)
	// UpdateAlertPolicy replaces the policy named p.Name.
	UpdateAlertPolicy(ctx context.Context, p *monitoringpb.AlertPolicy) (*monitoringpb.AlertPolicy, error)
	DeleteAlertPolicy(ctx context.Context, name string) error
	GetNotificationChannel(ctx context.Context, name string) (*monitoringpb.NotificationChannel, error)
	// CreateMetricDescriptor creates a custom metric, or adds labels to an existing one.
	CreateMetricDescriptor(ctx context.Context, project string, d *metricpb.MetricDescriptor) (*metricpb.MetricDescriptor, error)
	// ListTimeSeries returns every series that matches, across all pages.
	ListTimeSeries(ctx context.Context, req *monitoringpb.ListTimeSeriesRequest) ([]*monitoringpb.TimeSeries, error)
	// CreateTimeSeries writes at most 200 series of one point each.
	CreateTimeSeries(ctx context.Context, project string, ts []*monitoringpb.TimeSeries) error
	ListDashboards(ctx context.Context, project string) ([]*dashboardpb.Dashboard, error)
	CreateDashboard(ctx context.Context, project string, d *dashboardpb.Dashboard) (*dashboardpb.Dashboard, error)
	UpdateDashboard(ctx context.Context, d *dashboardpb.Dashboard) (*dashboardpb.Dashboard, error)
}

// Config says how to reach Cloud Monitoring: EmulatorHost, host:port of a fake (empty: the real
// service with Application Default Credentials), and Options passed to Google's clients
// after the ones Dial derives. It is the Config of every layer over Google's clients.
type Config = gcpclient.Config

// Client implements API with Google's clients.
type Client struct {
	clients  *gcpclient.Clients
	alerts   *mon.AlertPolicyClient
	channels *mon.NotificationChannelClient
	metrics  *mon.MetricClient
	dash     *dash.DashboardsClient
}

// Dial connects to Cloud Monitoring (or the emulator).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	return gcpclient.Open(ctx, cfg.ClientOptions(), func(cs *gcpclient.Clients) *Client {
		return &Client{
			clients:  cs,
			alerts:   gcpclient.Dial(cs, "monitoring: alert policy client", mon.NewAlertPolicyClient),
			channels: gcpclient.Dial(cs, "monitoring: notification channel client", mon.NewNotificationChannelClient),
			metrics:  gcpclient.Dial(cs, "monitoring: metric client", mon.NewMetricClient),
			dash:     gcpclient.Dial(cs, "monitoring: dashboards client", dash.NewDashboardsClient),
		}
	})
}

// Close closes the connections.
func (c *Client) Close() error {
	return c.clients.Close()
}

// ListAlertPolicies lists every policy of a project.
func (c *Client) ListAlertPolicies(ctx context.Context, project string) ([]*monitoringpb.AlertPolicy, error) {
	return gcpclient.Collect(c.alerts.ListAlertPolicies(ctx, &monitoringpb.ListAlertPoliciesRequest{Name: "projects/" + project}).Next)
}

// CreateAlertPolicy creates a policy.
func (c *Client) CreateAlertPolicy(ctx context.Context, project string, p *monitoringpb.AlertPolicy) (*monitoringpb.AlertPolicy, error) {
	return c.alerts.CreateAlertPolicy(ctx, &monitoringpb.CreateAlertPolicyRequest{Name: "projects/" + project, AlertPolicy: p})
}

// UpdateAlertPolicy replaces a policy.
func (c *Client) UpdateAlertPolicy(ctx context.Context, p *monitoringpb.AlertPolicy) (*monitoringpb.AlertPolicy, error) {
	return c.alerts.UpdateAlertPolicy(ctx, &monitoringpb.UpdateAlertPolicyRequest{AlertPolicy: p})
}

// DeleteAlertPolicy deletes a policy.
func (c *Client) DeleteAlertPolicy(ctx context.Context, name string) error {
	return c.alerts.DeleteAlertPolicy(ctx, &monitoringpb.DeleteAlertPolicyRequest{Name: name})
}

// GetNotificationChannel reads a channel.
func (c *Client) GetNotificationChannel(ctx context.Context, name string) (*monitoringpb.NotificationChannel, error) {
	return c.channels.GetNotificationChannel(ctx, &monitoringpb.GetNotificationChannelRequest{Name: name})
}

// CreateMetricDescriptor creates a custom metric's descriptor.
func (c *Client) CreateMetricDescriptor(ctx context.Context, project string, d *metricpb.MetricDescriptor) (*metricpb.MetricDescriptor, error) {
	return c.metrics.CreateMetricDescriptor(ctx, &monitoringpb.CreateMetricDescriptorRequest{Name: "projects/" + project, MetricDescriptor: d})
}

// ListTimeSeries lists time series, following page tokens.
func (c *Client) ListTimeSeries(ctx context.Context, req *monitoringpb.ListTimeSeriesRequest) ([]*monitoringpb.TimeSeries, error) {
	return gcpclient.Collect(c.metrics.ListTimeSeries(ctx, req).Next)
}

// CreateTimeSeries writes points.
func (c *Client) CreateTimeSeries(ctx context.Context, project string, ts []*monitoringpb.TimeSeries) error {
	return c.metrics.CreateTimeSeries(ctx, &monitoringpb.CreateTimeSeriesRequest{Name: "projects/" + project, TimeSeries: ts})
}

// ListDashboards lists every dashboard of a project.
func (c *Client) ListDashboards(ctx context.Context, project string) ([]*dashboardpb.Dashboard, error) {
	return gcpclient.Collect(c.dash.ListDashboards(ctx, &dashboardpb.ListDashboardsRequest{Parent: "projects/" + project}).Next)
}

// CreateDashboard creates a dashboard.
func (c *Client) CreateDashboard(ctx context.Context, project string, d *dashboardpb.Dashboard) (*dashboardpb.Dashboard, error) {
	return c.dash.CreateDashboard(ctx, &dashboardpb.CreateDashboardRequest{Parent: "projects/" + project, Dashboard: d})
}

// UpdateDashboard replaces a dashboard (its etag guards against concurrent changes).
func (c *Client) UpdateDashboard(ctx context.Context, d *dashboardpb.Dashboard) (*dashboardpb.Dashboard, error) {
	return c.dash.UpdateDashboard(ctx, &dashboardpb.UpdateDashboardRequest{Dashboard: d})
}

// WithRetry retries the idempotent calls of an API on transient errors with the policy
// launcher/dataflow uses too. Creates pass through.
func WithRetry(api API, p gcpclient.RetryPolicy) API { return retrying{api, p} }

type retrying struct {
	API
	p gcpclient.RetryPolicy
}

func (r retrying) ListAlertPolicies(ctx context.Context, project string) ([]*monitoringpb.AlertPolicy, error) {
	return gcpclient.Retry1(ctx, r.p, func(ctx context.Context) ([]*monitoringpb.AlertPolicy, error) {
		return r.API.ListAlertPolicies(ctx, project)
	})
}

func (r retrying) UpdateAlertPolicy(ctx context.Context, p *monitoringpb.AlertPolicy) (*monitoringpb.AlertPolicy, error) {
	return gcpclient.Retry1(ctx, r.p, func(ctx context.Context) (*monitoringpb.AlertPolicy, error) { return r.API.UpdateAlertPolicy(ctx, p) })
}

func (r retrying) DeleteAlertPolicy(ctx context.Context, name string) error {
	return r.p.Do(ctx, func(ctx context.Context) error { return r.API.DeleteAlertPolicy(ctx, name) })
}

func (r retrying) GetNotificationChannel(ctx context.Context, name string) (*monitoringpb.NotificationChannel, error) {
	return gcpclient.Retry1(ctx, r.p, func(ctx context.Context) (*monitoringpb.NotificationChannel, error) {
		return r.API.GetNotificationChannel(ctx, name)
	})
}

func (r retrying) CreateMetricDescriptor(ctx context.Context, project string, d *metricpb.MetricDescriptor) (*metricpb.MetricDescriptor, error) {
	// Creating a descriptor that exists updates it: safe to repeat.
	return gcpclient.Retry1(ctx, r.p, func(ctx context.Context) (*metricpb.MetricDescriptor, error) {
		return r.API.CreateMetricDescriptor(ctx, project, d)
	})
}

func (r retrying) ListTimeSeries(ctx context.Context, req *monitoringpb.ListTimeSeriesRequest) ([]*monitoringpb.TimeSeries, error) {
	return gcpclient.Retry1(ctx, r.p, func(ctx context.Context) ([]*monitoringpb.TimeSeries, error) { return r.API.ListTimeSeries(ctx, req) })
}

func (r retrying) ListDashboards(ctx context.Context, project string) ([]*dashboardpb.Dashboard, error) {
	return gcpclient.Retry1(ctx, r.p, func(ctx context.Context) ([]*dashboardpb.Dashboard, error) { return r.API.ListDashboards(ctx, project) })
}

// The custom metrics `launcher status --publish-metrics` writes, on the `global` resource
// of the fleet's alerts project.
const (
	// MetricJobs counts a fleet's jobs by version and status category (labels fleet,
	// version, category).
	MetricJobs = "custom.googleapis.com/eventdelivery/jobs"
	// MetricJobsOffPinned counts the jobs that do not run the pinned version and
	// configuration (label fleet).
	MetricJobsOffPinned = "custom.googleapis.com/eventdelivery/jobs_off_pinned"
)

// CustomMetrics are the descriptors of the launcher's custom metrics.
func CustomMetrics() []*metricpb.MetricDescriptor {
	lbl := func(keys ...string) []*label.LabelDescriptor {
		var out []*label.LabelDescriptor
		for _, k := range keys {
			out = append(out, &label.LabelDescriptor{Key: k, ValueType: label.LabelDescriptor_STRING})
		}
		return out
	}
	return []*metricpb.MetricDescriptor{
		{Type: MetricJobs, MetricKind: metricpb.MetricDescriptor_GAUGE, ValueType: metricpb.MetricDescriptor_INT64, Unit: "1",
			DisplayName: "eventdelivery jobs", Description: "Jobs of an eventdelivery fleet by pipeline version and status category, written by launcher status --publish-metrics.",
			Labels: lbl("fleet", "version", "category"), MonitoredResourceTypes: []string{"global"}},
		{Type: MetricJobsOffPinned, MetricKind: metricpb.MetricDescriptor_GAUGE, ValueType: metricpb.MetricDescriptor_INT64, Unit: "1",
			DisplayName: "eventdelivery jobs off the pinned version", Description: "Event types whose job does not run the fleet file's pinned version and configuration, written by launcher status --publish-metrics.",
			Labels: lbl("fleet"), MonitoredResourceTypes: []string{"global"}},
	}
}
