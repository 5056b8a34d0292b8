// Package dashboard builds a fleet's Cloud Monitoring dashboard and keeps one copy of it
// in the alerts project: system lag and data watermark age per job (the worst ten),
// hours closed, dead letters, duplicates and skewed events per minute, and jobs per
// pipeline version with the count of jobs off the pinned version (from `launcher status
// --publish-metrics`).
//
// The dashboard carries the labels managed-by=eventdelivery, fleet=<fleet> and
// spec-hash=<hash of its content>; [Apply] finds it by the first two, updates it (with
// its etag) when the hash differs, and creates it when there is none. Other dashboards
// are never touched.
package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"cloud.google.com/go/monitoring/dashboard/apiv1/dashboardpb"
	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Labels on the dashboard.
const (
	LabelManagedBy = "managed-by"
	LabelFleet     = "fleet"
	LabelSpecHash  = "spec-hash"
)

const (
	columns    = 48
	tileWidth  = 24
	tileHeight = 16
)

// Build returns the fleet's dashboard, labelled with its spec hash.
func Build(f *fleet.Fleet) *dashboardpb.Dashboard {
	jobs := fmt.Sprintf(`resource.type = "dataflow_job" AND resource.label.job_name = starts_with(%q)`, f.Name+"-")
	worst := func(title, metric string) *dashboardpb.Widget {
		return xy(title, dashboardpb.XyChart_DataSet_LINE, &dashboardpb.TimeSeriesQuery{Source: &dashboardpb.TimeSeriesQuery_TimeSeriesFilter{TimeSeriesFilter: &dashboardpb.TimeSeriesFilter{
			Filter: fmt.Sprintf("metric.type = %q AND %s", metric, jobs),
			Aggregation: &dashboardpb.Aggregation{
				AlignmentPeriod:    durationpb.New(time.Minute),
				PerSeriesAligner:   dashboardpb.Aggregation_ALIGN_MAX,
				CrossSeriesReducer: dashboardpb.Aggregation_REDUCE_MAX,
				GroupByFields:      []string{"resource.label.job_name"},
			},
			OutputFilter: &dashboardpb.TimeSeriesFilter_PickTimeSeriesFilter{PickTimeSeriesFilter: &dashboardpb.PickTimeSeriesFilter{
				RankingMethod: dashboardpb.PickTimeSeriesFilter_METHOD_MAX,
				NumTimeSeries: 10,
				Direction:     dashboardpb.PickTimeSeriesFilter_TOP,
			}},
		}}, UnitOverride: "s"})
	}
	perMinute := func(title, counter string) *dashboardpb.Widget {
		q := fmt.Sprintf(`sum by (job_name) (delta(%s{monitored_resource="dataflow_job",metric_name=%q,job_name=~"%s-.*"}[10m])) / 10`,
			alerts.PromUserCounter, counter, f.Name)
		return xy(title, dashboardpb.XyChart_DataSet_LINE, &dashboardpb.TimeSeriesQuery{Source: &dashboardpb.TimeSeriesQuery_PrometheusQuery{PrometheusQuery: q}})
	}
	versions := fmt.Sprintf(`metric.type = %q AND resource.type = "global" AND metric.label.fleet = %q`, monitoring.MetricJobs, f.Name)
	offPinned := fmt.Sprintf(`metric.type = %q AND resource.type = "global" AND metric.label.fleet = %q`, monitoring.MetricJobsOffPinned, f.Name)
	widgets := []*dashboardpb.Widget{
		worst("System lag, worst 10 jobs", alerts.MetricSystemLag),
		worst("Data watermark age, worst 10 jobs", alerts.MetricWatermarkAge),
		xy("Hours closed (manifests written) per hour", dashboardpb.XyChart_DataSet_STACKED_BAR, &dashboardpb.TimeSeriesQuery{Source: &dashboardpb.TimeSeriesQuery_PrometheusQuery{
			PrometheusQuery: fmt.Sprintf(`sum(delta(%s{monitored_resource="dataflow_job",metric_name=%q,job_name=~"%s-.*"}[1h]))`, alerts.PromUserCounter, alerts.CounterBucketsClosed, f.Name)}}),
		perMinute("Dead letters per minute", alerts.CounterInvalid),
		perMinute("Duplicates per minute", "duplicates"),
		perMinute("Skewed events per minute", "skewed"),
		xy("Jobs per pipeline version", dashboardpb.XyChart_DataSet_STACKED_BAR, &dashboardpb.TimeSeriesQuery{Source: &dashboardpb.TimeSeriesQuery_TimeSeriesFilter{TimeSeriesFilter: &dashboardpb.TimeSeriesFilter{
			Filter: versions,
			Aggregation: &dashboardpb.Aggregation{
				AlignmentPeriod:    durationpb.New(10 * time.Minute),
				PerSeriesAligner:   dashboardpb.Aggregation_ALIGN_MAX,
				CrossSeriesReducer: dashboardpb.Aggregation_REDUCE_SUM,
				GroupByFields:      []string{"metric.label.version"},
			},
		}}}),
		{Title: "Jobs off the pinned version " + f.Version, Content: &dashboardpb.Widget_Scorecard{Scorecard: &dashboardpb.Scorecard{
			TimeSeriesQuery: &dashboardpb.TimeSeriesQuery{Source: &dashboardpb.TimeSeriesQuery_TimeSeriesFilter{TimeSeriesFilter: &dashboardpb.TimeSeriesFilter{
				Filter:      offPinned,
				Aggregation: &dashboardpb.Aggregation{AlignmentPeriod: durationpb.New(10 * time.Minute), PerSeriesAligner: dashboardpb.Aggregation_ALIGN_MAX},
			}}},
			Thresholds: []*dashboardpb.Threshold{{Value: 0.5, Color: dashboardpb.Threshold_RED, Direction: dashboardpb.Threshold_ABOVE}},
		}}},
		{Title: "About", Content: &dashboardpb.Widget_Text{Text: &dashboardpb.Text{Format: dashboardpb.Text_MARKDOWN, Content: fmt.Sprintf(
			"Fleet **%s**, pinned version **%s**, %d event types. Written by `launcher dashboard apply`; edits made here are overwritten. "+
				"Version counts come from `launcher status --publish-metrics` run on a schedule. What to do when an alert fires: docs/operations.md.",
			f.Name, f.Version, len(f.EventTypes))}}},
	}
	var tiles []*dashboardpb.MosaicLayout_Tile
	for i, w := range widgets {
		tiles = append(tiles, &dashboardpb.MosaicLayout_Tile{
			XPos: int32(i%2) * tileWidth, YPos: int32(i/2) * tileHeight, Width: tileWidth, Height: tileHeight, Widget: w,
		})
	}
	d := &dashboardpb.Dashboard{
		DisplayName: fmt.Sprintf("eventdelivery fleet %s", f.Name),
		Layout:      &dashboardpb.Dashboard_MosaicLayout{MosaicLayout: &dashboardpb.MosaicLayout{Columns: columns, Tiles: tiles}},
		Labels:      map[string]string{LabelManagedBy: fleet.ManagedByValue, LabelFleet: f.Name},
	}
	d.Labels[LabelSpecHash] = hash(d)
	return d
}

func xy(title string, plot dashboardpb.XyChart_DataSet_PlotType, q *dashboardpb.TimeSeriesQuery) *dashboardpb.Widget {
	return &dashboardpb.Widget{Title: title, Content: &dashboardpb.Widget_XyChart{XyChart: &dashboardpb.XyChart{
		DataSets: []*dashboardpb.XyChart_DataSet{{TimeSeriesQuery: q, PlotType: plot, MinAlignmentPeriod: durationpb.New(time.Minute)}},
	}}}
}

func hash(d *dashboardpb.Dashboard) string {
	c := proto.CloneOf(d)
	c.Name, c.Etag = "", ""
	delete(c.Labels, LabelSpecHash)
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:10]
}

// Action is what Apply did.
type Action string

// Actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Result is what Apply did.
type Result struct {
	Action      Action `json:"action"`
	Project     string `json:"project"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Widgets     int    `json:"widgets"`
}

// Apply creates or updates the fleet's dashboard in project.
func Apply(ctx context.Context, api monitoring.API, project string, f *fleet.Fleet, dryRun bool) (*Result, error) {
	want := Build(f)
	r := &Result{Project: project, DisplayName: want.GetDisplayName(), Widgets: len(want.GetMosaicLayout().GetTiles())}
	all, err := api.ListDashboards(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("list dashboards of %s: %w", project, err)
	}
	var cur *dashboardpb.Dashboard
	for _, d := range all {
		if d.GetLabels()[LabelManagedBy] == fleet.ManagedByValue && d.GetLabels()[LabelFleet] == f.Name {
			cur = d
			break
		}
	}
	if !dryRun && (cur == nil || cur.GetLabels()[LabelSpecHash] != want.GetLabels()[LabelSpecHash]) {
		// The version widgets read the launcher's custom metrics: make sure they exist.
		for _, d := range monitoring.CustomMetrics() {
			if _, err := api.CreateMetricDescriptor(ctx, project, d); err != nil {
				return nil, fmt.Errorf("create metric descriptor %s: %w", d.GetType(), err)
			}
		}
	}
	switch {
	case cur == nil:
		r.Action = Created
		if dryRun {
			return r, nil
		}
		d, err := api.CreateDashboard(ctx, project, want)
		if err != nil {
			return nil, fmt.Errorf("create dashboard: %w", err)
		}
		r.Name = d.GetName()
	case cur.GetLabels()[LabelSpecHash] == want.GetLabels()[LabelSpecHash]:
		r.Action, r.Name = Unchanged, cur.GetName()
	default:
		r.Action, r.Name = Updated, cur.GetName()
		if dryRun {
			return r, nil
		}
		want.Name, want.Etag = cur.GetName(), cur.GetEtag()
		if _, err := api.UpdateDashboard(ctx, want); err != nil {
			return nil, fmt.Errorf("update dashboard %s: %w", cur.GetName(), err)
		}
	}
	return r, nil
}
