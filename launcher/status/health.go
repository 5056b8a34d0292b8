package status

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"github.com/eventdelivery/eventdelivery/output"
	"golang.org/x/sync/errgroup"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Health is a job's health: the Monitoring metrics the alerts watch and the last hour
// its manifests say is closed.
type Health struct {
	// SystemLag and WatermarkAge are the latest values in the last 10 minutes, in
	// seconds; nil when Monitoring has none.
	SystemLag    *float64 `json:"system_lag_seconds"`
	WatermarkAge *float64 `json:"watermark_age_seconds"`
	// DeadLettersPerMinute is the rate of the pipeline's `invalid` counter over the last
	// 10 minutes; nil when Monitoring has fewer than two points.
	DeadLettersPerMinute *float64 `json:"dead_letters_per_minute,omitempty"`
	// LastClosed is the start of the newest bucket with a manifest ("" when none was
	// found in the lookback).
	LastClosed string `json:"last_closed_bucket"`
	// OverdueSeconds is how long the bucket after LastClosed has been past its close
	// time without a manifest (0 when it is not due yet).
	OverdueSeconds float64 `json:"closed_overdue_seconds"`
	Healthy        bool    `json:"healthy"`
	// Problems say why a job is unhealthy.
	Problems []string `json:"problems"`
}

// ManifestChecker tells whether an object exists (internal/objstore's Store does).
type ManifestChecker interface {
	Exists(ctx context.Context, path string) (bool, error)
}

// HealthOptions say where health comes from.
type HealthOptions struct {
	// Now is the time health is judged at.
	Now time.Time
	// Metrics reads time series; Project is the project whose metrics scope holds the
	// fleet's jobs (the alerts project).
	Metrics monitoring.API
	Project string
	// Manifests returns the store for an output root; nil skips the closed hours.
	Manifests func(ctx context.Context, root string) (ManifestChecker, error)
	// Lookback is how far back the last closed bucket is looked for (default 48h), as the
	// pipeline's --lookback (output.Layout.LookbackFrom).
	Lookback time.Duration
	// Parallelism bounds concurrent manifest reads (default 16).
	Parallelism int
	// Thresholds, when set, replaces a job's alert settings as the thresholds it is
	// judged by (a rollout's health gate).
	Thresholds func(fleet.Job) fleet.Alerts
	// JudgeYoung judges the closed hours of jobs younger than two buckets too: right for
	// a job that updated or replaced another, whose output the predecessor kept closing.
	JudgeYoung bool
	// Only, when set, restricts the judgement to the rows it accepts.
	Only func(Row) bool
}

// healthWindow is how far back the latest metric value is looked for.
const healthWindow = 10 * time.Minute

// AddHealth judges the health of every running job: its system lag and data watermark
// age against the fleet file's alert thresholds, whether it reports metrics at all, and
// whether its hours close in time (bucket width + skew tolerance + closed_hour_margin).
// Jobs that are not running are judged by their state alone.
func (r *Report) AddHealth(ctx context.Context, f *fleet.Fleet, opts HealthOptions) error {
	if opts.Lookback <= 0 {
		opts.Lookback = 48 * time.Hour
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 16
	}
	lag, err := latest(ctx, opts, f.Name, alerts.MetricSystemLag)
	if err != nil {
		return err
	}
	wm, err := latest(ctx, opts, f.Name, alerts.MetricWatermarkAge)
	if err != nil {
		return err
	}
	dl, err := counterRates(ctx, opts, f.Name, alerts.CounterInvalid)
	if err != nil {
		return err
	}
	desired := map[string]fleet.Job{}
	for _, j := range f.Jobs() {
		desired[j.EventType] = j
	}
	var mu sync.Mutex
	stores := map[string]ManifestChecker{}
	store := func(ctx context.Context, root string) (ManifestChecker, error) {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := stores[root]; ok {
			return s, nil
		}
		s, err := opts.Manifests(ctx, root)
		if err != nil {
			return nil, err
		}
		stores[root] = s
		return s, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	reads := gcpclient.NewLimiter(opts.Parallelism)
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.State != dataflow.StateRunning || (opts.Only != nil && !opts.Only(*row)) {
			continue
		}
		d := desired[row.EventType]
		if opts.Thresholds != nil {
			d.Alerts = opts.Thresholds(d)
		}
		h := &Health{Healthy: true, Problems: []string{}}
		row.Health = h
		h.SystemLag = pick(lag, row.JobName, row.JobID)
		h.WatermarkAge = pick(wm, row.JobName, row.JobID)
		a := d.Alerts
		age := opts.Now.Sub(row.Since)
		switch {
		case h.SystemLag == nil && a.JobMissing > 0 && age > a.JobMissing:
			h.Problems = append(h.Problems, fmt.Sprintf("no system lag reported in the last %s", healthWindow))
		case h.SystemLag != nil && a.SystemLag > 0 && *h.SystemLag > a.SystemLag.Seconds():
			h.Problems = append(h.Problems, fmt.Sprintf("system lag %s above %s", secs(*h.SystemLag), a.SystemLag))
		}
		if h.WatermarkAge != nil && a.DataFreshness > 0 && *h.WatermarkAge > a.DataFreshness.Seconds() {
			h.Problems = append(h.Problems, fmt.Sprintf("watermark age %s above %s", secs(*h.WatermarkAge), a.DataFreshness))
		}
		if r, ok := dl[row.JobName]; ok {
			h.DeadLettersPerMinute = &r
			if a.DeadLettersPerMinute > 0 && r > a.DeadLettersPerMinute {
				h.Problems = append(h.Problems, fmt.Sprintf("dead letters %.4g/min above %g/min", r, a.DeadLettersPerMinute))
			}
		}
		if opts.Manifests == nil {
			continue
		}
		g.Go(func() error {
			return reads.Do(gctx, func(ctx context.Context) error { return closedHealth(ctx, store, d, row, opts) })
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range r.Rows {
		if h := r.Rows[i].Health; h != nil {
			h.Healthy = len(h.Problems) == 0
		}
	}
	return nil
}

func secs(s float64) string { return (time.Duration(s) * time.Second).String() }

// closedHealth finds the newest closed bucket and judges whether the next is overdue.
func closedHealth(ctx context.Context, store func(context.Context, string) (ManifestChecker, error), d fleet.Job, row *Row, opts HealthOptions) error {
	t := d.OutputTarget()
	st, err := store(ctx, t.Root)
	if err != nil {
		return fmt.Errorf("open %s: %w", t.Root, err)
	}
	layout := t.Layout
	now := opts.Now.UnixMilli()
	newest := layout.Start(now - layout.Width.Milliseconds() - layout.Skew.Milliseconds())
	h := row.Health
	var last int64
	found := false
	for start, from := newest, layout.LookbackFrom(now, opts.Lookback); start >= from; start -= layout.Width.Milliseconds() {
		ok, err := st.Exists(ctx, t.ManifestPath(start))
		if err != nil {
			return fmt.Errorf("%s: %w", d.EventType, err)
		}
		if ok {
			last, found = start, true
			break
		}
	}
	margin := d.Alerts.ClosedHourMargin
	// A job younger than a bucket plus its close delay may not have closed one yet.
	young := opts.Now.Sub(row.Since) < layout.Width*2+layout.Skew+margin && !opts.JudgeYoung
	if !found {
		if !d.Alerts.ClosedHourOff && !young {
			h.Problems = append(h.Problems, fmt.Sprintf("no closed bucket in the last %s", opts.Lookback))
		}
		return nil
	}
	h.LastClosed = output.Format(last)
	next := layout.Next(last)
	if due := layout.CloseTime(next); due < now {
		h.OverdueSeconds = float64(now-due) / 1000
	}
	if !d.Alerts.ClosedHourOff && h.OverdueSeconds > margin.Seconds() && !young {
		h.Problems = append(h.Problems, fmt.Sprintf("bucket %s not closed %s after its close time (margin %s)",
			output.Format(next), secs(h.OverdueSeconds), margin))
	}
	return nil
}

// sample is the latest value of one job's series.
type sample struct {
	jobID string
	at    time.Time
	value float64
}

// latest reads the newest value of a Dataflow job metric for every job of a fleet.
func latest(ctx context.Context, opts HealthOptions, fleetName, metric string) (map[string][]sample, error) {
	ts, err := opts.Metrics.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
		Name:   "projects/" + opts.Project,
		Filter: fmt.Sprintf(`metric.type = %q AND resource.type = "dataflow_job" AND resource.label.job_name = starts_with(%q)`, metric, fleetName+"-"),
		Interval: &monitoringpb.TimeInterval{
			StartTime: timestamppb.New(opts.Now.Add(-healthWindow)),
			EndTime:   timestamppb.New(opts.Now),
		},
		Aggregation: &monitoringpb.Aggregation{
			AlignmentPeriod:  durationpb.New(healthWindow),
			PerSeriesAligner: monitoringpb.Aggregation_ALIGN_NEXT_OLDER,
		},
		View: monitoringpb.ListTimeSeriesRequest_FULL,
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", metric, err)
	}
	out := map[string][]sample{}
	for _, s := range ts {
		if len(s.GetPoints()) == 0 {
			continue
		}
		p := s.GetPoints()[0] // newest first
		v := p.GetValue()
		val := float64(v.GetInt64Value()) + v.GetDoubleValue()
		name := s.GetResource().GetLabels()["job_name"]
		out[name] = append(out[name], sample{jobID: s.GetMetric().GetLabels()["job_id"], at: p.GetInterval().GetEndTime().AsTime(), value: val})
	}
	return out, nil
}

// counterRates reads the running total of one of the pipeline's Beam counters
// (user_counter, a GAUGE per job) over the last 10 minutes and returns, per job name,
// its increase per minute between the oldest and the newest point of the newest run.
func counterRates(ctx context.Context, opts HealthOptions, fleetName, counter string) (map[string]float64, error) {
	ts, err := opts.Metrics.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
		Name: "projects/" + opts.Project,
		Filter: fmt.Sprintf(`metric.type = %q AND metric.label.metric_name = %q AND resource.type = "dataflow_job" AND resource.label.job_name = starts_with(%q)`,
			alerts.MetricUserCounter, counter, fleetName+"-"),
		Interval: &monitoringpb.TimeInterval{
			StartTime: timestamppb.New(opts.Now.Add(-healthWindow)),
			EndTime:   timestamppb.New(opts.Now),
		},
		View: monitoringpb.ListTimeSeriesRequest_FULL,
	})
	if err != nil {
		return nil, fmt.Errorf("read counter %s: %w", counter, err)
	}
	type run struct {
		newest time.Time
		rate   float64
	}
	best := map[string]run{}
	for _, s := range ts {
		pts := s.GetPoints() // newest first
		if len(pts) < 2 {
			continue
		}
		first, last := pts[len(pts)-1], pts[0]
		t0, t1 := first.GetInterval().GetEndTime().AsTime(), last.GetInterval().GetEndTime().AsTime()
		if !t1.After(t0) {
			continue
		}
		v := func(p *monitoringpb.Point) float64 {
			return float64(p.GetValue().GetInt64Value()) + p.GetValue().GetDoubleValue()
		}
		rate := max(0, v(last)-v(first)) / t1.Sub(t0).Minutes()
		name := s.GetResource().GetLabels()["job_name"]
		if b, ok := best[name]; !ok || t1.After(b.newest) {
			best[name] = run{t1, rate}
		}
	}
	out := map[string]float64{}
	for k, r := range best {
		out[k] = r.rate
	}
	return out, nil
}

// pick returns the value of the job's current run, or the newest of any run of that name.
func pick(m map[string][]sample, name, id string) *float64 {
	ss := m[name]
	for _, s := range ss {
		if s.jobID == id && id != "" {
			v := s.value
			return &v
		}
	}
	if len(ss) == 0 {
		return nil
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].at.After(ss[j].at) })
	v := ss[0].value
	return &v
}

// Healthy reports whether every job that was judged is healthy and every event type is
// running (a failed or missing job is not healthy either).
func (r *Report) Healthy() bool {
	for _, row := range r.Rows {
		if row.Health != nil && !row.Health.Healthy {
			return false
		}
		if row.Category == Failed || row.Category == Missing {
			return false
		}
	}
	return true
}

// Unhealthy counts the running jobs judged unhealthy.
func (r *Report) Unhealthy() int {
	n := 0
	for _, row := range r.Rows {
		if row.Health != nil && !row.Health.Healthy {
			n++
		}
	}
	return n
}

// Publish writes the fleet's version metrics to Cloud Monitoring: jobs per version and
// category, and jobs off the pinned version (the drift alert's input).
func (r *Report) Publish(ctx context.Context, api monitoring.API, project string, now time.Time) error {
	for _, d := range monitoring.CustomMetrics() {
		if _, err := api.CreateMetricDescriptor(ctx, project, d); err != nil {
			return fmt.Errorf("publish: metric descriptor %s: %w", d.GetType(), err)
		}
	}
	counts := map[[2]string]int64{}
	off := int64(0)
	for _, row := range r.Rows {
		v := row.Version
		if v == "" {
			v = "none"
		}
		counts[[2]string{fleet.LabelSafe(v), string(row.Category)}]++
		if !row.MatchesPinned {
			off++
		}
	}
	point := func(v int64) []*monitoringpb.Point {
		return []*monitoringpb.Point{{Interval: &monitoringpb.TimeInterval{EndTime: timestamppb.New(now)},
			Value: &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_Int64Value{Int64Value: v}}}}
	}
	global := func() *monitoredResource {
		return &monitoredResource{Type: "global", Labels: map[string]string{"project_id": project}}
	}
	series := []*monitoringpb.TimeSeries{{
		Metric:     &metricT{Type: monitoring.MetricJobsOffPinned, Labels: map[string]string{"fleet": r.Fleet}},
		Resource:   global(),
		MetricKind: gaugeKind,
		Points:     point(off),
	}}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b [2]string) int {
		if a[0] != b[0] {
			return compare(a[0], b[0])
		}
		return compare(a[1], b[1])
	})
	for _, k := range keys {
		series = append(series, &monitoringpb.TimeSeries{
			Metric:     &metricT{Type: monitoring.MetricJobs, Labels: map[string]string{"fleet": r.Fleet, "version": k[0], "category": k[1]}},
			Resource:   global(),
			MetricKind: gaugeKind,
			Points:     point(counts[k]),
		})
	}
	for len(series) > 0 {
		n := min(len(series), 200)
		if err := api.CreateTimeSeries(ctx, project, series[:n]); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		series = series[n:]
	}
	return nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type (
	monitoredResource = monitoredres.MonitoredResource
	metricT           = metricpb.Metric
)

const gaugeKind = metricpb.MetricDescriptor_GAUGE
