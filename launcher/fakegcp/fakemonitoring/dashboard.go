package fakemonitoring

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/monitoring/dashboard/apiv1/dashboardpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

var dashboardNameRe = regexp.MustCompile(`^projects/([^/]+)/dashboards/([A-Za-z0-9_-]+)$`)

// validateDashboard applies the API's rules. Callers hold mu.
func (s *Service) validateDashboard(project string, d *dashboardpb.Dashboard) error {
	if d.GetDisplayName() == "" {
		return invalid("dashboard.display_name is required")
	}
	var widgets []*dashboardpb.Widget
	switch {
	case d.GetMosaicLayout() != nil:
		m := d.GetMosaicLayout()
		cols := m.GetColumns()
		if cols < 1 || cols > 48 {
			return invalid("dashboard.mosaic_layout.columns %d: must be between 1 and 48", cols)
		}
		for i, t := range m.GetTiles() {
			if t.GetXPos() < 0 || t.GetYPos() < 0 || t.GetWidth() < 1 || t.GetHeight() < 1 || t.GetXPos()+t.GetWidth() > cols {
				return invalid("dashboard.mosaic_layout.tiles[%d]: x_pos %d + width %d must fit %d columns, with positive width and height", i, t.GetXPos(), t.GetWidth(), cols)
			}
			widgets = append(widgets, t.GetWidget())
		}
	case d.GetGridLayout() != nil:
		widgets = d.GetGridLayout().GetWidgets()
	case d.GetRowLayout() != nil || d.GetColumnLayout() != nil:
		return invalid("fakemonitoring: row and column layouts are not supported")
	default:
		return invalid("dashboard: a layout is required (grid_layout, mosaic_layout, row_layout or column_layout)")
	}
	for i, w := range widgets {
		field := fmt.Sprintf("dashboard.widgets[%d]", i)
		var queries []*dashboardpb.TimeSeriesQuery
		switch c := w.GetContent().(type) {
		case *dashboardpb.Widget_XyChart:
			for _, ds := range c.XyChart.GetDataSets() {
				queries = append(queries, ds.GetTimeSeriesQuery())
			}
		case *dashboardpb.Widget_Scorecard:
			queries = append(queries, c.Scorecard.GetTimeSeriesQuery())
		case *dashboardpb.Widget_TimeSeriesTable:
			for _, ds := range c.TimeSeriesTable.GetDataSets() {
				queries = append(queries, ds.GetTimeSeriesQuery())
			}
		case *dashboardpb.Widget_Text, *dashboardpb.Widget_SectionHeader, *dashboardpb.Widget_AlertChart, *dashboardpb.Widget_Blank:
		case nil:
			return invalid("%s: a widget needs content", field)
		}
		for j, q := range queries {
			qf := fmt.Sprintf("%s.time_series_query[%d]", field, j)
			switch {
			case q.GetTimeSeriesFilter() != nil:
				f := q.GetTimeSeriesFilter()
				sel, err := s.compileFilter(project, f.GetFilter())
				if err != nil {
					return invalid("%s.filter: %v", qf, err)
				}
				if a := f.GetAggregation(); a != nil {
					if err := checkAggregation(qf+".aggregation", toMonitoring(a), sel.descriptor, time.Second, 0); err != nil {
						return invalid("%v", err)
					}
				}
			case q.GetPrometheusQuery() != "":
				if err := s.checkPromQL(project, q.GetPrometheusQuery()); err != nil {
					return invalid("%s.prometheus_query: %v", qf, err)
				}
			default:
				return invalid("%s: fakemonitoring supports time_series_filter and prometheus_query", qf)
			}
		}
	}
	return nil
}

func toMonitoring(a *dashboardpb.Aggregation) *monitoringpb.Aggregation {
	return &monitoringpb.Aggregation{
		AlignmentPeriod:    a.GetAlignmentPeriod(),
		PerSeriesAligner:   monitoringpb.Aggregation_Aligner(a.GetPerSeriesAligner()),
		CrossSeriesReducer: monitoringpb.Aggregation_Reducer(a.GetCrossSeriesReducer()),
		GroupByFields:      a.GetGroupByFields(),
	}
}

func etag(d *dashboardpb.Dashboard) string {
	c := proto.CloneOf(d)
	c.Etag = ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// CreateDashboard creates a dashboard; a name in the request is kept when free.
func (s *Service) CreateDashboard(_ context.Context, req *dashboardpb.CreateDashboardRequest) (*dashboardpb.Dashboard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project, err := projectOf(req.GetParent())
	if err != nil {
		return nil, err
	}
	d := proto.CloneOf(req.GetDashboard())
	if d == nil {
		return nil, invalid("dashboard is required")
	}
	if err := s.validateDashboard(project, d); err != nil {
		return nil, err
	}
	if d.Name != "" {
		m := dashboardNameRe.FindStringSubmatch(d.Name)
		if m == nil || m[1] != project {
			return nil, invalid("dashboard.name %q: want projects/%s/dashboards/ID", d.Name, project)
		}
		if _, dup := s.dashboards[project][d.Name]; dup {
			return nil, status.Errorf(codes.AlreadyExists, "dashboard %s already exists", d.Name)
		}
	} else {
		d.Name = fmt.Sprintf("projects/%s/dashboards/%s", project, s.nextID())
	}
	if req.GetValidateOnly() {
		return d, nil
	}
	d.Etag = etag(d)
	store(s.dashboards, project, d.Name, d)
	return proto.CloneOf(d), nil
}

func (s *Service) lookupDashboard(name string) (*dashboardpb.Dashboard, string, error) {
	return lookup(s.dashboards, dashboardNameRe, name, "projects/P/dashboards/ID", "dashboard")
}

// GetDashboard returns a dashboard.
func (s *Service) GetDashboard(_ context.Context, req *dashboardpb.GetDashboardRequest) (*dashboardpb.Dashboard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return found(s.lookupDashboard(req.GetName()))
}

// ListDashboards lists a project's dashboards, in pages.
func (s *Service) ListDashboards(_ context.Context, req *dashboardpb.ListDashboardsRequest) (*dashboardpb.ListDashboardsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project, err := projectOf(req.GetParent())
	if err != nil {
		return nil, err
	}
	page, next, _, err := listPage(s, s.dashboards[project], req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &dashboardpb.ListDashboardsResponse{Dashboards: page, NextPageToken: next}, nil
}

// UpdateDashboard replaces a dashboard; a stale etag is ABORTED.
func (s *Service) UpdateDashboard(_ context.Context, req *dashboardpb.UpdateDashboardRequest) (*dashboardpb.Dashboard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := req.GetDashboard()
	old, project, err := s.lookupDashboard(in.GetName())
	if err != nil {
		return nil, err
	}
	if in.GetEtag() != "" && in.GetEtag() != old.GetEtag() {
		return nil, status.Errorf(codes.Aborted, "dashboard %s was changed since it was read (etag %s, now %s)", in.GetName(), in.GetEtag(), old.GetEtag())
	}
	d := proto.CloneOf(in)
	if err := s.validateDashboard(project, d); err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return d, nil
	}
	d.Etag = etag(d)
	s.dashboards[project][d.Name] = d
	return proto.CloneOf(d), nil
}

// DeleteDashboard deletes a dashboard.
func (s *Service) DeleteDashboard(_ context.Context, req *dashboardpb.DeleteDashboardRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return remove(s.dashboards, s.lookupDashboard, req.GetName())
}

// Dashboards returns a copy of a project's dashboards, by name.
func (s *Service) Dashboards(project string) []*dashboardpb.Dashboard {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copies(s.dashboards[project])
}
