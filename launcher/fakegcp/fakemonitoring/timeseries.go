package fakemonitoring

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/genproto/googleapis/api/label"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func seriesKey(project, metricType string, ml map[string]string, resType string, rl map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s", project, metricType, resType)
	for _, k := range slices.Sorted(maps.Keys(ml)) {
		fmt.Fprintf(&b, "|m.%s=%s", k, ml[k])
	}
	for _, k := range slices.Sorted(maps.Keys(rl)) {
		fmt.Fprintf(&b, "|r.%s=%s", k, rl[k])
	}
	return b.String()
}

// Point is one value of a seeded time series.
type Point struct {
	Time  time.Time
	Value float64
}

// AddPoints seeds points of a built-in or custom metric, as Dataflow or Pub/Sub would
// write them; the series' project is the resource's project_id label. Points are kept
// in time order. It panics on an unknown metric or resource type: a test bug.
func (s *Service) AddPoints(metricType string, metricLabels map[string]string, resourceType string, resourceLabels map[string]string, pts ...Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project := resourceLabels["project_id"]
	d := s.descriptor(project, metricType)
	if d == nil {
		panic("fakemonitoring.AddPoints: unknown metric " + metricType)
	}
	if !slices.Contains(d.MonitoredResourceTypes, resourceType) {
		panic("fakemonitoring.AddPoints: metric " + metricType + " has no resource type " + resourceType)
	}
	key := seriesKey(project, metricType, metricLabels, resourceType, resourceLabels)
	ts := s.series[key]
	if ts == nil {
		ts = &series{project: project, metricType: metricType, metricLabels: maps.Clone(metricLabels), resourceType: resourceType,
			resourceLabels: maps.Clone(resourceLabels), kind: d.MetricKind, valueType: d.ValueType}
		s.series[key] = ts
	}
	for _, p := range pts {
		ts.points = append(ts.points, point{end: p.Time, value: typed(p.Value, d.ValueType)})
	}
	slices.SortStableFunc(ts.points, func(a, b point) int { return a.end.Compare(b.end) })
}

// TimeSeries returns a copy of every stored series of a metric type, as the API would list
// them without aggregation (points newest first).
func (s *Service) TimeSeries(metricType string) []*monitoringpb.TimeSeries {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*monitoringpb.TimeSeries
	for _, k := range slices.Sorted(maps.Keys(s.series)) {
		ts := s.series[k]
		if ts.metricType == metricType {
			out = append(out, s.raw(ts, time.Time{}, time.Time{}, true))
		}
	}
	return out
}

// raw renders a series with the points in (start, end] (every point when end is zero).
func (s *Service) raw(ts *series, start, end time.Time, full bool) *monitoringpb.TimeSeries {
	out := &monitoringpb.TimeSeries{
		Metric:     &metricpb.Metric{Type: ts.metricType, Labels: maps.Clone(ts.metricLabels)},
		Resource:   &monitoredres.MonitoredResource{Type: ts.resourceType, Labels: maps.Clone(ts.resourceLabels)},
		MetricKind: ts.kind,
		ValueType:  ts.valueType,
	}
	if !full {
		return out
	}
	for i := len(ts.points) - 1; i >= 0; i-- {
		p := ts.points[i]
		if !end.IsZero() && (p.end.After(end) || !p.end.After(start) && !(start.Equal(end) && p.end.Equal(end))) {
			continue
		}
		out.Points = append(out.Points, &monitoringpb.Point{
			Interval: &monitoringpb.TimeInterval{EndTime: timestamppb.New(p.end), StartTime: timestamppb.New(p.end)},
			Value:    proto.CloneOf(p.value),
		})
	}
	return out
}

// ListTimeSeries lists the series that match a filter, with their points in the interval,
// optionally aligned and reduced.
func (s *Service) ListTimeSeries(_ context.Context, req *monitoringpb.ListTimeSeriesRequest) (*monitoringpb.ListTimeSeriesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project, err := projectOf(req.GetName())
	if err != nil {
		return nil, err
	}
	sel, err := s.compileFilter(project, req.GetFilter())
	if err != nil {
		return nil, invalid("%v", err)
	}
	iv := req.GetInterval()
	if iv.GetEndTime() == nil {
		return nil, invalid("interval.end_time is required")
	}
	end := iv.GetEndTime().AsTime()
	start := end
	if iv.GetStartTime() != nil {
		start = iv.GetStartTime().AsTime()
	}
	if start.After(end) {
		return nil, invalid("interval: start_time %s is after end_time %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	if req.GetSecondaryAggregation() != nil || req.GetOrderBy() != "" {
		return nil, invalid("fakemonitoring: secondary_aggregation and order_by are not supported")
	}
	agg := req.GetAggregation()
	if err := checkAggregation("aggregation", agg, sel.descriptor, time.Second, 0); err != nil {
		return nil, invalid("%v", err)
	}
	full := req.GetView() != monitoringpb.ListTimeSeriesRequest_HEADERS
	scope := s.scope(project)
	var matched []*series
	for _, k := range slices.Sorted(maps.Keys(s.series)) {
		ts := s.series[k]
		if !slices.Contains(scope, ts.project) || !sel.root.match(seriesView{ts.metricType, ts.metricLabels, ts.resourceType, ts.resourceLabels}) {
			continue
		}
		matched = append(matched, ts)
	}
	var out []*monitoringpb.TimeSeries
	if agg.GetPerSeriesAligner() == monitoringpb.Aggregation_ALIGN_NONE {
		for _, ts := range matched {
			r := s.raw(ts, start, end, full)
			if full && len(r.Points) == 0 {
				continue
			}
			out = append(out, r)
		}
	} else {
		out = aggregate(matched, agg, start, end)
	}
	keys := make([]string, len(out))
	byKey := map[string]*monitoringpb.TimeSeries{}
	for i, ts := range out {
		keys[i] = fmt.Sprintf("%08d", i)
		byKey[keys[i]] = ts
	}
	page, next, err := s.page(keys, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &monitoringpb.ListTimeSeriesResponse{NextPageToken: next}
	for _, k := range page {
		resp.TimeSeries = append(resp.TimeSeries, byKey[k])
	}
	return resp, nil
}

// aggregate aligns every series into windows of the alignment period ending at end and
// going back to start, then reduces across series grouped by the group-by fields.
func aggregate(in []*series, agg *monitoringpb.Aggregation, start, end time.Time) []*monitoringpb.TimeSeries {
	period := agg.GetAlignmentPeriod().AsDuration()
	al, red := agg.GetPerSeriesAligner(), agg.GetCrossSeriesReducer()
	type aligned struct {
		ts   *series
		vals map[time.Time]float64
	}
	var all []aligned
	for _, ts := range in {
		a := aligned{ts: ts, vals: map[time.Time]float64{}}
		for wEnd := end; wEnd.After(start) || wEnd.Equal(end); wEnd = wEnd.Add(-period) {
			wStart := wEnd.Add(-period)
			var pts []point
			for _, p := range ts.points {
				if p.end.After(wStart) && !p.end.After(wEnd) {
					pts = append(pts, p)
				}
			}
			if v, ok := align(al, pts); ok {
				a.vals[wEnd] = v
			}
			if !wEnd.After(start) {
				break
			}
		}
		if len(a.vals) > 0 {
			all = append(all, a)
		}
	}
	vt := metricpb.MetricDescriptor_DOUBLE
	if len(in) > 0 {
		vt = alignedType(al, in[0].valueType)
	}
	render := func(ml, rl map[string]string, mt, rt string, kind metricpb.MetricDescriptor_MetricKind, vals map[time.Time]float64, vt metricpb.MetricDescriptor_ValueType) *monitoringpb.TimeSeries {
		ts := &monitoringpb.TimeSeries{
			Metric:     &metricpb.Metric{Type: mt, Labels: ml},
			Resource:   &monitoredres.MonitoredResource{Type: rt, Labels: rl},
			MetricKind: kind,
			ValueType:  vt,
		}
		times := slices.SortedFunc(maps.Keys(vals), func(a, b time.Time) int { return b.Compare(a) })
		for _, t := range times {
			ts.Points = append(ts.Points, &monitoringpb.Point{
				Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(t), EndTime: timestamppb.New(t)},
				Value:    typed(vals[t], vt),
			})
		}
		return ts
	}
	kindOut := metricpb.MetricDescriptor_GAUGE
	if red == monitoringpb.Aggregation_REDUCE_NONE {
		var out []*monitoringpb.TimeSeries
		for _, a := range all {
			out = append(out, render(maps.Clone(a.ts.metricLabels), maps.Clone(a.ts.resourceLabels), a.ts.metricType, a.ts.resourceType, kindOut, a.vals, vt))
		}
		return out
	}
	type group struct {
		ml, rl map[string]string
		mt, rt string
		vals   map[time.Time][]float64
	}
	groups := map[string]*group{}
	var order []string
	for _, a := range all {
		ml, rl := map[string]string{}, map[string]string{}
		for _, f := range agg.GetGroupByFields() {
			sel, _ := canonicalSelector(strings.Split(f, "."))
			if k, ok := strings.CutPrefix(sel, "metric.label."); ok {
				ml[k] = a.ts.metricLabels[k]
			}
			if k, ok := strings.CutPrefix(sel, "resource.label."); ok {
				rl[k] = a.ts.resourceLabels[k]
			}
			if sel == "project" {
				rl["project_id"] = a.ts.resourceLabels["project_id"]
			}
		}
		key := seriesKey("", "", ml, "", rl)
		g := groups[key]
		if g == nil {
			g = &group{ml: ml, rl: rl, mt: a.ts.metricType, rt: a.ts.resourceType, vals: map[time.Time][]float64{}}
			groups[key] = g
			order = append(order, key)
		}
		for t, v := range a.vals {
			g.vals[t] = append(g.vals[t], v)
		}
	}
	rvt := vt
	switch red {
	case monitoringpb.Aggregation_REDUCE_MEAN, monitoringpb.Aggregation_REDUCE_STDDEV:
		rvt = metricpb.MetricDescriptor_DOUBLE
	case monitoringpb.Aggregation_REDUCE_COUNT:
		rvt = metricpb.MetricDescriptor_INT64
	}
	var out []*monitoringpb.TimeSeries
	for _, k := range order {
		g := groups[k]
		vals := map[time.Time]float64{}
		for t, vs := range g.vals {
			vals[t] = reduce(red, vs)
		}
		out = append(out, render(g.ml, g.rl, g.mt, g.rt, kindOut, vals, rvt))
	}
	return out
}

// CreateTimeSeries writes points of custom metrics.
func (s *Service) CreateTimeSeries(_ context.Context, req *monitoringpb.CreateTimeSeriesRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project, err := projectOf(req.GetName())
	if err != nil {
		return nil, err
	}
	n := len(req.GetTimeSeries())
	if n == 0 || n > 200 {
		return nil, invalid("time_series: %d series; between 1 and 200 per request", n)
	}
	// Check everything first: a request is all or nothing.
	type write struct {
		key string
		ts  *monitoringpb.TimeSeries
		d   *customDescriptor
		t   time.Time
	}
	var writes []write
	seen := map[string]int{}
	for i, ts := range req.GetTimeSeries() {
		field := fmt.Sprintf("time_series[%d]", i)
		mt := ts.GetMetric().GetType()
		if !isCustom(mt) {
			if _, ok := builtins[mt]; ok {
				return nil, status.Errorf(codes.PermissionDenied, "%s: metric %s is written by Google Cloud, not through the API", field, mt)
			}
			return nil, invalid("%s.metric.type %q: user metrics start with custom.googleapis.com/, workload.googleapis.com/ or external.googleapis.com/", field, mt)
		}
		rt := ts.GetResource().GetType()
		if !slices.Contains(writableResources, rt) {
			return nil, invalid("%s.resource.type %q: custom metrics are written for %s", field, rt, strings.Join(writableResources, ", "))
		}
		rl := maps.Clone(ts.GetResource().GetLabels())
		if rl == nil {
			rl = map[string]string{}
		}
		if rl["project_id"] == "" {
			rl["project_id"] = project
		}
		if rl["project_id"] != project {
			return nil, invalid("%s.resource.labels.project_id %q: must be the request's project %s", field, rl["project_id"], project)
		}
		for k := range rl {
			if !slices.Contains(resourceLabels[rt], k) {
				return nil, invalid("%s.resource.labels: resource type %s has no label %q", field, rt, k)
			}
		}
		if len(ts.GetPoints()) != 1 {
			return nil, invalid("%s.points: exactly one point per series per request, got %d", field, len(ts.GetPoints()))
		}
		p := ts.GetPoints()[0]
		if p.GetInterval().GetEndTime() == nil {
			return nil, invalid("%s.points[0].interval.end_time is required", field)
		}
		kind := ts.GetMetricKind()
		if kind == metricpb.MetricDescriptor_METRIC_KIND_UNSPECIFIED {
			kind = gauge
		}
		vt := valueTypeOf(p.GetValue())
		if vt == metricpb.MetricDescriptor_VALUE_TYPE_UNSPECIFIED {
			return nil, invalid("%s.points[0].value is required", field)
		}
		end := p.GetInterval().GetEndTime().AsTime()
		if kind == gauge && p.GetInterval().GetStartTime() != nil && !p.GetInterval().GetStartTime().AsTime().Equal(end) {
			return nil, invalid("%s.points[0].interval: a GAUGE point's start_time must be unset or equal its end_time", field)
		}
		d := s.custom[project][mt]
		if d != nil {
			if d.MetricKind != kind {
				return nil, invalid("%s: metric %s is %s, the series says %s", field, mt, d.MetricKind, kind)
			}
			if d.ValueType != vt {
				return nil, invalid("%s: metric %s holds %s values, the point is %s", field, mt, d.ValueType, vt)
			}
			for k := range ts.GetMetric().GetLabels() {
				if !hasLabel(d.MetricDescriptor, k) && !d.auto {
					return nil, invalid("%s.metric.labels: metric %s has no label %q", field, mt, k)
				}
			}
		}
		key := seriesKey(project, mt, ts.GetMetric().GetLabels(), rt, rl)
		if j, dup := seen[key]; dup {
			return nil, invalid("%s: duplicate time series (same as time_series[%d])", field, j)
		}
		seen[key] = i
		if old := s.series[key]; old != nil && len(old.points) > 0 && !end.After(old.points[len(old.points)-1].end) {
			return nil, invalid("%s: points must be written in order: %s is not after the series' last point %s",
				field, end.Format(time.RFC3339Nano), old.points[len(old.points)-1].end.Format(time.RFC3339Nano))
		}
		ts = proto.CloneOf(ts)
		ts.Resource.Labels = rl
		ts.MetricKind = kind
		ts.ValueType = vt
		writes = append(writes, write{key: key, ts: ts, d: d, t: end})
	}
	for _, w := range writes {
		d := w.d
		mt := w.ts.GetMetric().GetType()
		if d == nil {
			d = s.custom[project][mt]
		}
		if d == nil {
			d = &customDescriptor{auto: true, MetricDescriptor: &metricpb.MetricDescriptor{
				Name: fmt.Sprintf("projects/%s/metricDescriptors/%s", project, mt), Type: mt,
				MetricKind: w.ts.MetricKind, ValueType: w.ts.ValueType, MonitoredResourceTypes: slices.Clone(writableResources),
			}}
			store(s.custom, project, mt, d)
		}
		for _, k := range slices.Sorted(maps.Keys(w.ts.GetMetric().GetLabels())) {
			if !hasLabel(d.MetricDescriptor, k) {
				d.Labels = append(d.Labels, &label.LabelDescriptor{Key: k, ValueType: label.LabelDescriptor_STRING})
			}
		}
		ts := s.series[w.key]
		if ts == nil {
			ts = &series{project: project, metricType: mt, metricLabels: maps.Clone(w.ts.GetMetric().GetLabels()),
				resourceType: w.ts.GetResource().GetType(), resourceLabels: w.ts.GetResource().GetLabels(),
				kind: w.ts.MetricKind, valueType: w.ts.ValueType}
			s.series[w.key] = ts
		}
		ts.points = append(ts.points, point{end: w.t, value: proto.CloneOf(w.ts.GetPoints()[0].GetValue())})
	}
	return &emptypb.Empty{}, nil
}

func valueTypeOf(v *monitoringpb.TypedValue) metricpb.MetricDescriptor_ValueType {
	switch v.GetValue().(type) {
	case *monitoringpb.TypedValue_Int64Value:
		return int64T
	case *monitoringpb.TypedValue_DoubleValue:
		return doubleT
	case *monitoringpb.TypedValue_BoolValue:
		return boolT
	case *monitoringpb.TypedValue_StringValue:
		return metricpb.MetricDescriptor_STRING
	case *monitoringpb.TypedValue_DistributionValue:
		return distT
	}
	return metricpb.MetricDescriptor_VALUE_TYPE_UNSPECIFIED
}

// CreateMetricDescriptor creates or updates a custom metric's descriptor (labels are added,
// never removed).
func (s *Service) CreateMetricDescriptor(_ context.Context, req *monitoringpb.CreateMetricDescriptorRequest) (*metricpb.MetricDescriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project, err := projectOf(req.GetName())
	if err != nil {
		return nil, err
	}
	in := req.GetMetricDescriptor()
	switch {
	case in == nil:
		return nil, invalid("metric_descriptor is required")
	case !isCustom(in.GetType()):
		return nil, invalid("metric_descriptor.type %q: user metrics start with custom.googleapis.com/ or workload.googleapis.com/", in.GetType())
	case in.GetMetricKind() == metricpb.MetricDescriptor_METRIC_KIND_UNSPECIFIED:
		return nil, invalid("metric_descriptor.metric_kind is required")
	case in.GetValueType() == metricpb.MetricDescriptor_VALUE_TYPE_UNSPECIFIED:
		return nil, invalid("metric_descriptor.value_type is required")
	case in.GetMetricKind() == cumulative && in.GetValueType() == boolT:
		return nil, invalid("metric_descriptor: a CUMULATIVE metric cannot hold BOOL values")
	}
	for _, l := range in.GetLabels() {
		if !userLabelKeyRe.MatchString(l.GetKey()) && !strings.Contains(l.GetKey(), "_") {
			return nil, invalid("metric_descriptor.labels: bad key %q", l.GetKey())
		}
	}
	d := s.custom[project][in.GetType()]
	if d != nil {
		if d.MetricKind != in.GetMetricKind() || d.ValueType != in.GetValueType() {
			return nil, invalid("metric_descriptor: %s exists as %s %s; kind and value type cannot change", in.GetType(), d.MetricKind, d.ValueType)
		}
		for _, l := range in.GetLabels() {
			if !hasLabel(d.MetricDescriptor, l.GetKey()) {
				d.Labels = append(d.Labels, proto.CloneOf(l))
			}
		}
		d.auto = false
		return proto.CloneOf(d.MetricDescriptor), nil
	}
	md := proto.CloneOf(in)
	md.Name = fmt.Sprintf("projects/%s/metricDescriptors/%s", project, in.GetType())
	if len(md.MonitoredResourceTypes) == 0 {
		md.MonitoredResourceTypes = slices.Clone(writableResources)
	}
	store(s.custom, project, in.GetType(), &customDescriptor{MetricDescriptor: md})
	return proto.CloneOf(md), nil
}

// GetMetricDescriptor returns a built-in or custom descriptor by its name,
// projects/P/metricDescriptors/TYPE.
func (s *Service) GetMetricDescriptor(_ context.Context, req *monitoringpb.GetMetricDescriptorRequest) (*metricpb.MetricDescriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rest, ok := strings.CutPrefix(req.GetName(), "projects/")
	project, typ, ok2 := strings.Cut(rest, "/metricDescriptors/")
	if !ok || !ok2 || project == "" {
		return nil, invalid("name %q: want projects/P/metricDescriptors/TYPE", req.GetName())
	}
	d := s.descriptor(project, typ)
	if d == nil {
		return nil, status.Errorf(codes.NotFound, "metric descriptor %s does not exist", req.GetName())
	}
	out := proto.CloneOf(d)
	out.Name = req.GetName()
	return out, nil
}

// ListMetricDescriptors lists the built-in metrics and the project's custom metrics
// (filter: none, or metric.type = starts_with("...")).
func (s *Service) ListMetricDescriptors(_ context.Context, req *monitoringpb.ListMetricDescriptorsRequest) (*monitoringpb.ListMetricDescriptorsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project, err := projectOf(req.GetName())
	if err != nil {
		return nil, err
	}
	var prefix string
	if f := req.GetFilter(); f != "" {
		root, err := parseFilter(f)
		if err != nil || root.op != "cmp" || root.selector != "metric.type" || (root.fn != "starts_with" && root.fn != "") {
			return nil, invalid("filter %q: fakemonitoring supports metric.type = starts_with(\"...\") only", f)
		}
		prefix = root.args[0]
		if root.fn == "" {
			prefix = root.args[0]
		}
	}
	all := map[string]*metricpb.MetricDescriptor{}
	for t, d := range builtins {
		all[t] = d
	}
	for _, p := range s.scope(project) {
		for t, d := range s.custom[p] {
			all[t] = d.MetricDescriptor
		}
	}
	var names []string
	for t := range all {
		if strings.HasPrefix(t, prefix) {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	page, next, err := s.page(names, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &monitoringpb.ListMetricDescriptorsResponse{NextPageToken: next}
	for _, t := range page {
		resp.MetricDescriptors = append(resp.MetricDescriptors, proto.CloneOf(all[t]))
	}
	return resp, nil
}
