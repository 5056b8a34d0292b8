package alerts_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/backfill"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/fakemonitoring"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The fleet's policies never select a backfill job (launcher backfill), which Cloud
// Monitoring knows by its name only: every Dataflow metric a filter reads is seeded for a
// live job and for a backfill of the same event type, and each filter (they select the
// fleet's jobs by the prefix <fleet>-) returns the live jobs' series only; no PromQL
// job_name=~ matcher matches the backfill's name.
func TestPoliciesNeverSelectBackfills(t *testing.T) {
	e := setup(t)
	f := e.fleetFile(t, 3, "    system_lag: 10m\n")
	desired, err := alerts.Desired(f)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	metricRe := regexp.MustCompile(`metric\.type = "(dataflow\.googleapis\.com/[^"]+)"`)
	matcherRe := regexp.MustCompile(`job_name(=~|!~)"([^"]*)"`) // PromQL regexes match whole values
	seeded, backfills := map[string]bool{}, map[string]bool{}
	checked := 0
	for _, p := range desired {
		for _, c := range p.Spec.GetConditions() {
			for _, filter := range []string{c.GetConditionThreshold().GetFilter(), c.GetConditionAbsent().GetFilter()} {
				m := metricRe.FindStringSubmatch(filter)
				if m == nil {
					continue
				}
				for _, j := range f.Jobs() {
					bf := backfill.JobName(f.Name, j.EventType, "20261201t1000", "r20261202t050000-ab12")
					backfills[bf] = true
					for _, name := range []string{j.Name, bf} {
						if key := m[1] + name; !seeded[key] {
							seeded[key] = true
							e.srv.AddPoints(m[1], map[string]string{"job_id": "any"}, "dataflow_job",
								map[string]string{"project_id": j.Project, "job_name": name, "region": j.Region},
								fakemonitoring.Point{Time: now.Add(-time.Minute), Value: 1})
						}
					}
				}
				series, err := e.api.ListTimeSeries(context.Background(), &monitoringpb.ListTimeSeriesRequest{
					Name: "projects/" + f.Jobs()[0].Project, Filter: filter, // every job is in one project
					Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(now.Add(-time.Hour)), EndTime: timestamppb.New(now)},
				})
				if err != nil {
					t.Fatalf("%s: %v", filter, err)
				}
				if len(series) == 0 {
					t.Errorf("policy %s: filter %s selects no job at all", p.Key, filter)
				}
				for _, s := range series {
					if name := s.GetResource().GetLabels()["job_name"]; backfills[name] {
						t.Errorf("policy %s: filter %s selects the backfill %s", p.Key, filter, name)
					}
				}
				checked++
			}
			q := c.GetConditionPrometheusQueryLanguage().GetQuery()
			for _, m := range matcherRe.FindAllStringSubmatch(q, -1) {
				name := backfill.JobName(f.Name, "type-000", "20261201t1000", "r20261202t050000-ab12")
				if m[1] == "=~" && regexp.MustCompile("^(?:"+m[2]+")$").MatchString(name) {
					t.Errorf("policy %s: PromQL %s matches the backfill %s", p.Key, q, name)
				}
				checked++
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d conditions, want every job-selecting one", checked)
	}
}
