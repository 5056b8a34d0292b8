package fakemonitoring

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/genproto/googleapis/api/label"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
)

// Kinds and value types, short.
const (
	gauge      = metricpb.MetricDescriptor_GAUGE
	delta      = metricpb.MetricDescriptor_DELTA
	cumulative = metricpb.MetricDescriptor_CUMULATIVE
	int64T     = metricpb.MetricDescriptor_INT64
	doubleT    = metricpb.MetricDescriptor_DOUBLE
	boolT      = metricpb.MetricDescriptor_BOOL
	distT      = metricpb.MetricDescriptor_DISTRIBUTION
)

// resourceLabels are the labels of the monitored resource types the fake knows.
var resourceLabels = map[string][]string{
	"dataflow_job":        {"project_id", "job_name", "region"},
	"pubsub_subscription": {"project_id", "subscription_id"},
	"pubsub_topic":        {"project_id", "topic_id"},
	"global":              {"project_id"},
	"generic_task":        {"project_id", "location", "namespace", "job", "task_id"},
	"generic_node":        {"project_id", "location", "namespace", "node_id"},
}

// writableResources are the resource types custom metrics may be written to.
var writableResources = []string{"global", "generic_task", "generic_node"}

func builtin(typ string, kind metricpb.MetricDescriptor_MetricKind, vt metricpb.MetricDescriptor_ValueType, unit, resource string, labels ...string) *metricpb.MetricDescriptor {
	d := &metricpb.MetricDescriptor{
		Name:                   "metricDescriptors/" + typ,
		Type:                   typ,
		MetricKind:             kind,
		ValueType:              vt,
		Unit:                   unit,
		MonitoredResourceTypes: []string{resource},
	}
	for _, l := range labels {
		d.Labels = append(d.Labels, &label.LabelDescriptor{Key: l, ValueType: label.LabelDescriptor_STRING})
	}
	return d
}

// builtins are the Google metrics the fake knows (from the Dataflow and Pub/Sub metrics
// lists). Others are unknown, as a typo would be.
var builtins = map[string]*metricpb.MetricDescriptor{}

func init() {
	for _, d := range []*metricpb.MetricDescriptor{
		builtin("dataflow.googleapis.com/job/system_lag", gauge, int64T, "s", "dataflow_job", "job_id"),
		builtin("dataflow.googleapis.com/job/data_watermark_age", gauge, int64T, "s", "dataflow_job", "job_id"),
		builtin("dataflow.googleapis.com/job/is_failed", gauge, int64T, "1", "dataflow_job", "job_id"),
		builtin("dataflow.googleapis.com/job/user_counter", gauge, doubleT, "1", "dataflow_job", "metric_name", "job_id", "ptransform"),
		builtin("dataflow.googleapis.com/job/elements_produced_count", delta, int64T, "1", "dataflow_job", "job_id", "pcollection", "ptransform"),
		builtin("dataflow.googleapis.com/job/current_num_vcpus", gauge, int64T, "1", "dataflow_job", "job_id"),
		builtin("dataflow.googleapis.com/job/status", gauge, metricpb.MetricDescriptor_STRING, "", "dataflow_job", "job_id"),
		builtin("pubsub.googleapis.com/subscription/oldest_unacked_message_age", gauge, int64T, "s", "pubsub_subscription"),
		builtin("pubsub.googleapis.com/subscription/num_undelivered_messages", gauge, int64T, "1", "pubsub_subscription"),
		builtin("pubsub.googleapis.com/subscription/ack_message_count", delta, int64T, "1", "pubsub_subscription"),
		builtin("pubsub.googleapis.com/topic/send_message_operation_count", delta, int64T, "1", "pubsub_topic"),
	} {
		builtins[d.Type] = d
	}
}

func isCustom(typ string) bool {
	return strings.HasPrefix(typ, "custom.googleapis.com/") || strings.HasPrefix(typ, "workload.googleapis.com/") ||
		strings.HasPrefix(typ, "external.googleapis.com/")
}

// selection is a validated time series filter.
type selection struct {
	root       *node
	descriptor *metricpb.MetricDescriptor
}

// compileFilter parses a filter and checks it against the metrics project knows: exactly
// one metric type, known, and only labels the metric and its resource types have.
// Callers hold mu.
func (s *Service) compileFilter(project, filter string) (*selection, error) {
	root, err := parseFilter(filter)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %v", filter, err)
	}
	var types, resTypes []string
	var bad error
	root.walk(func(c *node, plain bool) {
		switch c.selector {
		case "metric.type":
			if !plain || c.cmpOp != "=" || c.fn != "" {
				bad = fmt.Errorf("filter %q: metric.type must be compared with = to one metric type", filter)
			}
			types = append(types, c.args...)
		case "resource.type":
			if plain && c.cmpOp == "=" && c.fn == "" {
				resTypes = append(resTypes, c.args[0])
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	if len(types) != 1 {
		return nil, fmt.Errorf("filter %q must select exactly one metric type (metric.type = \"...\"), found %d", filter, len(types))
	}
	d := s.descriptor(project, types[0])
	if d == nil {
		return nil, fmt.Errorf("filter %q: cannot find metric(s) that match type = %q", filter, types[0])
	}
	for _, rt := range resTypes {
		if !slices.Contains(d.MonitoredResourceTypes, rt) {
			return nil, fmt.Errorf("filter %q: metric %s is not written for resource type %q (it is written for %s)", filter, d.Type, rt, strings.Join(d.MonitoredResourceTypes, ", "))
		}
	}
	if len(resTypes) == 0 {
		resTypes = d.MonitoredResourceTypes
	}
	root.walk(func(c *node, _ bool) {
		if bad != nil {
			return
		}
		switch {
		case strings.HasPrefix(c.selector, "metric.label."):
			k := strings.TrimPrefix(c.selector, "metric.label.")
			if !hasLabel(d, k) {
				bad = fmt.Errorf("filter %q: metric %s has no label %q", filter, d.Type, k)
			}
		case strings.HasPrefix(c.selector, "resource.label."):
			k := strings.TrimPrefix(c.selector, "resource.label.")
			found := false
			for _, rt := range resTypes {
				found = found || slices.Contains(resourceLabels[rt], k)
			}
			if !found {
				bad = fmt.Errorf("filter %q: resource type %s has no label %q", filter, strings.Join(resTypes, "/"), k)
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	return &selection{root: root, descriptor: d}, nil
}

func hasLabel(d *metricpb.MetricDescriptor, k string) bool {
	return slices.ContainsFunc(d.Labels, func(l *label.LabelDescriptor) bool { return l.Key == k })
}

// descriptor returns a metric's descriptor as seen from project. Callers hold mu.
func (s *Service) descriptor(project, typ string) *metricpb.MetricDescriptor {
	if d, ok := builtins[typ]; ok {
		return d
	}
	for _, p := range s.scope(project) {
		if d, ok := s.custom[p][typ]; ok {
			return d.MetricDescriptor
		}
	}
	return nil
}

// alignerValid reports whether an aligner applies to a metric kind and value type (the
// rules of Aggregation.Aligner's documentation).
func alignerValid(a monitoringpb.Aggregation_Aligner, kind metricpb.MetricDescriptor_MetricKind, vt metricpb.MetricDescriptor_ValueType) bool {
	numeric := vt == int64T || vt == doubleT
	switch a {
	case monitoringpb.Aggregation_ALIGN_NONE:
		return true
	case monitoringpb.Aggregation_ALIGN_DELTA:
		return kind == cumulative || kind == delta
	case monitoringpb.Aggregation_ALIGN_RATE:
		return (kind == cumulative || kind == delta) && numeric
	case monitoringpb.Aggregation_ALIGN_INTERPOLATE:
		return kind == gauge && numeric
	case monitoringpb.Aggregation_ALIGN_NEXT_OLDER:
		return kind == gauge
	case monitoringpb.Aggregation_ALIGN_MIN, monitoringpb.Aggregation_ALIGN_MAX, monitoringpb.Aggregation_ALIGN_MEAN,
		monitoringpb.Aggregation_ALIGN_STDDEV, monitoringpb.Aggregation_ALIGN_PERCENT_CHANGE:
		return (kind == gauge || kind == delta) && numeric
	case monitoringpb.Aggregation_ALIGN_COUNT:
		return (kind == gauge || kind == delta) && (numeric || vt == boolT)
	case monitoringpb.Aggregation_ALIGN_SUM:
		return (kind == gauge || kind == delta) && (numeric || vt == distT)
	case monitoringpb.Aggregation_ALIGN_COUNT_TRUE, monitoringpb.Aggregation_ALIGN_COUNT_FALSE, monitoringpb.Aggregation_ALIGN_FRACTION_TRUE:
		return kind == gauge && vt == boolT
	case monitoringpb.Aggregation_ALIGN_PERCENTILE_99, monitoringpb.Aggregation_ALIGN_PERCENTILE_95,
		monitoringpb.Aggregation_ALIGN_PERCENTILE_50, monitoringpb.Aggregation_ALIGN_PERCENTILE_05:
		return (kind == gauge || kind == delta) && vt == distT
	}
	return false
}

// alignedType is the value type an aligner produces.
func alignedType(a monitoringpb.Aggregation_Aligner, vt metricpb.MetricDescriptor_ValueType) metricpb.MetricDescriptor_ValueType {
	switch a {
	case monitoringpb.Aggregation_ALIGN_MEAN, monitoringpb.Aggregation_ALIGN_STDDEV, monitoringpb.Aggregation_ALIGN_RATE,
		monitoringpb.Aggregation_ALIGN_FRACTION_TRUE, monitoringpb.Aggregation_ALIGN_PERCENT_CHANGE,
		monitoringpb.Aggregation_ALIGN_PERCENTILE_99, monitoringpb.Aggregation_ALIGN_PERCENTILE_95,
		monitoringpb.Aggregation_ALIGN_PERCENTILE_50, monitoringpb.Aggregation_ALIGN_PERCENTILE_05:
		return doubleT
	case monitoringpb.Aggregation_ALIGN_COUNT, monitoringpb.Aggregation_ALIGN_COUNT_TRUE, monitoringpb.Aggregation_ALIGN_COUNT_FALSE:
		return int64T
	}
	return vt
}

func reducerValid(r monitoringpb.Aggregation_Reducer, vt metricpb.MetricDescriptor_ValueType) bool {
	numeric := vt == int64T || vt == doubleT
	switch r {
	case monitoringpb.Aggregation_REDUCE_NONE, monitoringpb.Aggregation_REDUCE_COUNT:
		return true
	case monitoringpb.Aggregation_REDUCE_MEAN, monitoringpb.Aggregation_REDUCE_SUM:
		return numeric || vt == distT
	case monitoringpb.Aggregation_REDUCE_MIN, monitoringpb.Aggregation_REDUCE_MAX, monitoringpb.Aggregation_REDUCE_STDDEV:
		return numeric
	case monitoringpb.Aggregation_REDUCE_COUNT_TRUE, monitoringpb.Aggregation_REDUCE_COUNT_FALSE, monitoringpb.Aggregation_REDUCE_FRACTION_TRUE:
		return vt == boolT
	case monitoringpb.Aggregation_REDUCE_PERCENTILE_99, monitoringpb.Aggregation_REDUCE_PERCENTILE_95,
		monitoringpb.Aggregation_REDUCE_PERCENTILE_50, monitoringpb.Aggregation_REDUCE_PERCENTILE_05:
		return numeric || vt == distT
	}
	return false
}

// checkAggregation applies the rules of Aggregation: an aligner needs an alignment period
// (at least minPeriod, at most maxPeriod when set) and must suit the metric; a reducer
// needs an aligner and must suit the aligned values; group_by_fields name labels.
func checkAggregation(field string, a *monitoringpb.Aggregation, d *metricpb.MetricDescriptor, minPeriod, maxPeriod time.Duration) error {
	if a == nil {
		return nil
	}
	al, red := a.GetPerSeriesAligner(), a.GetCrossSeriesReducer()
	period := a.GetAlignmentPeriod().AsDuration()
	if a.GetAlignmentPeriod() == nil {
		period = 0
	}
	switch {
	case al != monitoringpb.Aggregation_ALIGN_NONE && a.GetAlignmentPeriod() == nil:
		return fmt.Errorf("%s.alignment_period is required when per_series_aligner is %s", field, al)
	case a.GetAlignmentPeriod() != nil && period < minPeriod:
		return fmt.Errorf("%s.alignment_period %s: must be at least %s", field, period, minPeriod)
	case maxPeriod > 0 && period > maxPeriod:
		return fmt.Errorf("%s.alignment_period %s: must be at most %s", field, period, maxPeriod)
	case a.GetAlignmentPeriod() != nil && period%time.Second != 0:
		return fmt.Errorf("%s.alignment_period %s: must be whole seconds", field, period)
	case !alignerValid(al, d.MetricKind, d.ValueType):
		return fmt.Errorf("%s.per_series_aligner %s is not valid for metric %s of kind %s and type %s", field, al, d.Type, d.MetricKind, d.ValueType)
	case red != monitoringpb.Aggregation_REDUCE_NONE && al == monitoringpb.Aggregation_ALIGN_NONE:
		return fmt.Errorf("%s.cross_series_reducer %s requires a per_series_aligner other than ALIGN_NONE", field, red)
	case !reducerValid(red, alignedType(al, d.ValueType)):
		return fmt.Errorf("%s.cross_series_reducer %s is not valid for %s values", field, red, alignedType(al, d.ValueType))
	}
	for _, g := range a.GetGroupByFields() {
		parts := strings.Split(g, ".")
		sel, err := canonicalSelector(parts)
		if err != nil || (!strings.HasPrefix(sel, "metric.label.") && !strings.HasPrefix(sel, "resource.label.") && sel != "resource.type" && sel != "project") {
			return fmt.Errorf("%s.group_by_fields: %q is not a label (metric.label.KEY or resource.label.KEY)", field, g)
		}
		if k, ok := strings.CutPrefix(sel, "metric.label."); ok && !hasLabel(d, k) {
			return fmt.Errorf("%s.group_by_fields: metric %s has no label %q", field, d.Type, k)
		}
		if k, ok := strings.CutPrefix(sel, "resource.label."); ok {
			found := false
			for _, rt := range d.MonitoredResourceTypes {
				found = found || slices.Contains(resourceLabels[rt], k)
			}
			if !found {
				return fmt.Errorf("%s.group_by_fields: resource has no label %q", field, k)
			}
		}
	}
	return nil
}

// value returns a point's numeric value.
func value(v *monitoringpb.TypedValue) float64 {
	switch x := v.GetValue().(type) {
	case *monitoringpb.TypedValue_Int64Value:
		return float64(x.Int64Value)
	case *monitoringpb.TypedValue_DoubleValue:
		return x.DoubleValue
	case *monitoringpb.TypedValue_BoolValue:
		if x.BoolValue {
			return 1
		}
	}
	return 0
}

func typed(v float64, vt metricpb.MetricDescriptor_ValueType) *monitoringpb.TypedValue {
	switch vt {
	case int64T:
		return &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_Int64Value{Int64Value: int64(math.Round(v))}}
	case boolT:
		return &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_BoolValue{BoolValue: v != 0}}
	}
	return &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_DoubleValue{DoubleValue: v}}
}

// align reduces a window's points (oldest first) to one value; ok is false when the
// aligner has nothing to say.
func align(a monitoringpb.Aggregation_Aligner, pts []point) (float64, bool) {
	if len(pts) == 0 {
		return 0, false
	}
	vals := make([]float64, len(pts))
	for i, p := range pts {
		vals[i] = value(p.value)
	}
	switch a {
	case monitoringpb.Aggregation_ALIGN_MAX:
		return slices.Max(vals), true
	case monitoringpb.Aggregation_ALIGN_MIN:
		return slices.Min(vals), true
	case monitoringpb.Aggregation_ALIGN_SUM:
		return sum(vals), true
	case monitoringpb.Aggregation_ALIGN_MEAN:
		return sum(vals) / float64(len(vals)), true
	case monitoringpb.Aggregation_ALIGN_COUNT:
		return float64(len(vals)), true
	case monitoringpb.Aggregation_ALIGN_NEXT_OLDER, monitoringpb.Aggregation_ALIGN_INTERPOLATE:
		return vals[len(vals)-1], true
	case monitoringpb.Aggregation_ALIGN_STDDEV:
		return stddev(vals), true
	case monitoringpb.Aggregation_ALIGN_DELTA:
		return vals[len(vals)-1] - vals[0], true
	case monitoringpb.Aggregation_ALIGN_COUNT_TRUE:
		return sum(vals), true
	}
	return 0, false
}

func reduce(r monitoringpb.Aggregation_Reducer, vals []float64) float64 {
	switch r {
	case monitoringpb.Aggregation_REDUCE_MAX:
		return slices.Max(vals)
	case monitoringpb.Aggregation_REDUCE_MIN:
		return slices.Min(vals)
	case monitoringpb.Aggregation_REDUCE_SUM, monitoringpb.Aggregation_REDUCE_COUNT_TRUE:
		return sum(vals)
	case monitoringpb.Aggregation_REDUCE_MEAN:
		return sum(vals) / float64(len(vals))
	case monitoringpb.Aggregation_REDUCE_COUNT:
		return float64(len(vals))
	case monitoringpb.Aggregation_REDUCE_STDDEV:
		return stddev(vals)
	}
	return vals[0]
}

func sum(vs []float64) float64 {
	t := 0.0
	for _, v := range vs {
		t += v
	}
	return t
}

func stddev(vs []float64) float64 {
	m := sum(vs) / float64(len(vs))
	t := 0.0
	for _, v := range vs {
		t += (v - m) * (v - m)
	}
	return math.Sqrt(t / float64(len(vs)))
}
