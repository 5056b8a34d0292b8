// Package fakemonitoring is an in-process fake of Cloud Monitoring (API v3 and the
// Dashboards API v1), served over gRPC to Google's own Go clients
// (cloud.google.com/go/monitoring/apiv3/v2 and dashboard/apiv1), in the style of pstest.
//
//	srv, err := fakemonitoring.NewServer()
//	...
//	defer srv.Close()
//	c, err := monitoring.NewAlertPolicyClient(ctx,
//		option.WithEndpoint(srv.Addr),
//		option.WithoutAuthentication(),
//		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
//
// The launcher reaches it through MONITORING_EMULATOR_HOST; `go run ./launcher/fakegcp`
// serves it on the same port as the Dataflow fake.
//
// # Behavior
//
// It implements, with the validation of the real API where the launcher depends on it:
//
//   - AlertPolicyService: List (paged), Get, Create, Update (whole policy or update_mask
//     of top-level fields), Delete. A policy needs a display name and 1 to 6 conditions,
//     each with a display name and one condition; a combiner when it has more than one;
//     notification channels that exist in the project; user labels by GCP's rules.
//     Threshold and absence conditions need a filter that selects exactly one known
//     metric type (Dataflow's and Pub/Sub's metrics, and custom metrics that exist in the
//     project or its metrics scope) and only labels that metric and its resource have;
//     aligners and reducers must suit the metric's kind and value type (ALIGN_DELTA and
//     ALIGN_RATE need a CUMULATIVE or DELTA metric, a reducer needs an aligner, …);
//     alignment periods are 60 s to 25 h; a threshold duration is whole minutes, an
//     absence duration whole minutes and at least 120 s. PromQL conditions are parsed
//     (brackets, selectors, ranges, functions) and every metric they name must exist.
//     The limits alert.proto states hold: filters and denominator filters at most 2,048
//     characters ([MaxFilterLength]), display names 512, at most 64 user labels of 63
//     characters (128 bytes), documentation content 8,192 characters and 10,240 bytes,
//     subject 10,240 bytes, at most 3 links (display name 63, url 2,083), PromQL rule
//     group and alert rule 2,048, a non-empty PromQL query.
//     Any violation is INVALID_ARGUMENT; a missing policy NOT_FOUND. The server assigns
//     policy and condition names and creation and mutation records from its clock.
//   - NotificationChannelService: List, Get, Create, Delete.
//   - MetricService: ListTimeSeries (filter as above, interval, aggregation with the
//     aligners MAX, MIN, MEAN, SUM, COUNT, STDDEV, NEXT_OLDER, DELTA and the reducers MAX,
//     MIN, MEAN, SUM, COUNT, grouped by labels; pages), CreateTimeSeries (custom metrics
//     only, at most 200 series per call, one point per series, no duplicate series in a
//     call, points in order per series, GAUGE points with start = end; the descriptor is
//     created on first write), Get/Create/List MetricDescriptors.
//   - DashboardsService: Create, Get, List, Update (etag checked: ABORTED on a stale
//     etag), Delete. A dashboard needs a display name and a layout; mosaic tiles must fit
//     the columns; every widget's time series filter and aggregation is validated as
//     for alert policies.
//
// Built-in metrics (Dataflow, Pub/Sub) cannot be written through the API, as in Cloud
// Monitoring; tests seed them with [Service.AddPoints]. A project sees the time series
// of the projects in its metrics scope ([WithMetricsScope]); by default only its own.
//
// Faults and latency are injected per method ([WithFault], [Service.SetFault],
// [WithLatency]) as in launcher/fakegcp/fakedataflow.
//
// # Differences from Cloud Monitoring
//
//   - Alerts are never evaluated: no incidents, no notifications.
//   - ListAlertPolicies, ListNotificationChannels and ListDashboards take no filter or
//     order_by (INVALID_ARGUMENT when given).
//   - Only the metrics and resource types listed in this package exist; label checks use
//     them. Metadata labels (metadata.user_labels) are accepted but never match.
//   - ListTimeSeries aligns windows back from the interval's end and never interpolates;
//     percentiles, ALIGN_RATE and ALIGN_PERCENT_CHANGE are validated but not computed.
//   - PromQL is checked, not evaluated; MQL and SQL conditions are refused. The check is
//     lexical: brackets, ranges, function and metric names and label matchers are
//     verified, but not types (a range vector where an instant vector belongs passes),
//     nor the labels listed after by, without, on or ignoring.
//   - Filters: the selectors metric.display_name and metadata.* parse but match as an absent label;
//     the error texts are the fake's own (the codes are the API's).
//   - Writing a built-in metric (CreateTimeSeries) is PERMISSION_DENIED, as the fake
//     reads the documentation; not observed against the real service.
//   - The number of policies per metrics scope, of conditions per project, of
//     notification channels per policy and other quotas are not enforced; nor is the
//     size of a whole request.
package fakemonitoring

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/monitoring/dashboard/apiv1/dashboardpb"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/internal/fakeserver"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Method names for faults and latency.
const (
	MethodListAlertPolicies        = "ListAlertPolicies"
	MethodGetAlertPolicy           = "GetAlertPolicy"
	MethodCreateAlertPolicy        = "CreateAlertPolicy"
	MethodUpdateAlertPolicy        = "UpdateAlertPolicy"
	MethodDeleteAlertPolicy        = "DeleteAlertPolicy"
	MethodGetNotificationChannel   = "GetNotificationChannel"
	MethodListNotificationChannels = "ListNotificationChannels"
	MethodListTimeSeries           = "ListTimeSeries"
	MethodCreateTimeSeries         = "CreateTimeSeries"
	MethodCreateMetricDescriptor   = "CreateMetricDescriptor"
	MethodGetMetricDescriptor      = "GetMetricDescriptor"
	MethodCreateDashboard          = "CreateDashboard"
	MethodUpdateDashboard          = "UpdateDashboard"
	MethodListDashboards           = "ListDashboards"
)

// Fault makes calls of one method fail.
type Fault = fakeserver.Fault

type config struct {
	now      func() time.Time
	pageSize int
	inject   fakeserver.Config
	scopes   map[string][]string
}

// Option configures a Service.
type Option func(*config)

// WithClock sets the clock of creation and mutation records (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithSeed seeds the random source of probabilistic faults (default 1).
func WithSeed(seed int64) Option { return func(c *config) { c.inject.Seed = seed } }

// WithPageSize sets the largest page of the List methods (default 100).
func WithPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// WithFault injects a fault into a method (see the Method constants).
func WithFault(method string, f Fault) Option {
	return func(c *config) { c.inject.AddFault(method, f) }
}

// WithLatency delays every call of a method.
func WithLatency(method string, d time.Duration) Option {
	return func(c *config) { c.inject.SetLatency(method, d) }
}

// WithMetricsScope makes the scoping project see the metrics of the monitored projects
// too (Cloud Monitoring's metrics scopes).
func WithMetricsScope(scoping string, monitored ...string) Option {
	return func(c *config) { c.scopes[scoping] = append(c.scopes[scoping], monitored...) }
}

type customDescriptor struct {
	*metricpb.MetricDescriptor
	auto bool // created by a write, so writes may add labels
}

type point struct {
	end   time.Time
	value *monitoringpb.TypedValue
}

type series struct {
	project        string
	metricType     string
	metricLabels   map[string]string
	resourceType   string
	resourceLabels map[string]string
	kind           metricpb.MetricDescriptor_MetricKind
	valueType      metricpb.MetricDescriptor_ValueType
	points         []point // oldest first
}

// Service holds the fake's state and implements the Monitoring gRPC services. Most users
// want [Server]; Service is for serving the fake on a gRPC server together with other
// fakes (see [Service.Register] and [Service.UnaryInterceptor]).
type Service struct {
	monitoringpb.UnimplementedAlertPolicyServiceServer
	monitoringpb.UnimplementedNotificationChannelServiceServer
	monitoringpb.UnimplementedMetricServiceServer
	dashboardpb.UnimplementedDashboardsServiceServer

	// Injector applies the injected faults and latency and counts calls: its methods
	// (SetFault, AddFault, SetLatency, Calls, FaultsFired, UnaryInterceptor) take the
	// Method constants.
	*fakeserver.Injector

	mu         sync.Mutex
	cfg        config
	seq        int64
	policies   map[string]map[string]*monitoringpb.AlertPolicy         // project → id → policy
	channels   map[string]map[string]*monitoringpb.NotificationChannel // project → name → channel
	custom     map[string]map[string]*customDescriptor                 // project → type → descriptor
	series     map[string]*series                                      // by key
	dashboards map[string]map[string]*dashboardpb.Dashboard            // project → name → dashboard
}

// New returns a Service; register it on a gRPC server with Register and install its
// interceptor for faults and latency.
func New(opts ...Option) *Service {
	cfg := config{
		now:      time.Now,
		pageSize: 100,
		inject:   fakeserver.Config{Seed: 1},
		scopes:   map[string][]string{},
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Service{
		Injector:   fakeserver.NewInjector("fakemonitoring", servicePrefix, cfg.inject),
		cfg:        cfg,
		policies:   map[string]map[string]*monitoringpb.AlertPolicy{},
		channels:   map[string]map[string]*monitoringpb.NotificationChannel{},
		custom:     map[string]map[string]*customDescriptor{},
		series:     map[string]*series{},
		dashboards: map[string]map[string]*dashboardpb.Dashboard{},
	}
}

// Register registers the Monitoring services on a gRPC server.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	monitoringpb.RegisterAlertPolicyServiceServer(r, s)
	monitoringpb.RegisterNotificationChannelServiceServer(r, s)
	monitoringpb.RegisterMetricServiceServer(r, s)
	dashboardpb.RegisterDashboardsServiceServer(r, s)
}

// Server is a Service listening on a local port: its Addr (host:port) is for
// option.WithEndpoint or MONITORING_EMULATOR_HOST; Close stops it.
type Server struct {
	*Service
	*fakeserver.Server
}

// NewServer starts a fake on localhost on a free port.
func NewServer(opts ...Option) (*Server, error) {
	svc := New(opts...)
	srv, err := fakeserver.Listen("fakemonitoring", "127.0.0.1:0", svc)
	if err != nil {
		return nil, err
	}
	return &Server{Service: svc, Server: srv}, nil
}

const servicePrefix = "/google.monitoring."

// apply applies an option to the running server, under the lock.
func (s *Service) apply(o Option) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o(&s.cfg)
}

// SetTimeNow replaces the clock.
func (s *Service) SetTimeNow(now func() time.Time) { s.apply(WithClock(now)) }

// SetMetricsScope sets the projects a scoping project sees.
func (s *Service) SetMetricsScope(scoping string, monitored ...string) {
	s.apply(func(c *config) { c.scopes[scoping] = monitored })
}

// scope returns the projects whose metrics project sees. Callers hold mu.
func (s *Service) scope(project string) []string {
	return append([]string{project}, s.cfg.scopes[project]...)
}

func (s *Service) nextID() string {
	s.seq++
	return fmt.Sprintf("%d", 1_000_000_000_000_000+s.seq*7919)
}

// projectOf checks a "projects/P" name and returns P.
func projectOf(name string) (string, error) {
	p, ok := strings.CutPrefix(name, "projects/")
	if !ok || p == "" || strings.Contains(p, "/") {
		return "", status.Errorf(codes.InvalidArgument, "name %q: want projects/PROJECT_ID", name)
	}
	return p, nil
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
