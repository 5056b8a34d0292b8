// Package alertstest checks, in tests, what the fleet's alert policies read from Cloud Monitoring.
package alertstest

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
)

// FailedOrMissing returns, per category (failed, missing), what the condition "jobs failed
// or missing" of the fleet's alert policies (as launcher/alerts writes them) reads from
// mon at now, through that condition's own filter and aggregation; it fails the test when
// the condition would not fire on a value above 0. A test of a failed launch checks with
// it that what the launcher publishes is what the policy alerts on.
func FailedOrMissing(tb testing.TB, mon monitoring.API, f *fleet.Fleet, now time.Time) map[string]int64 {
	tb.Helper()
	desired, err := alerts.Desired(f)
	if err != nil {
		tb.Fatal(err)
	}
	var cond *monitoringpb.AlertPolicy_Condition_MetricThreshold
	for _, p := range desired {
		for _, c := range p.Spec.GetConditions() {
			if c.GetDisplayName() == "jobs failed or missing (launcher status)" {
				cond = c.GetConditionThreshold()
			}
		}
	}
	if cond == nil {
		tb.Fatal("no condition on failed or missing jobs in the fleet's alert policies")
	}
	if cond.GetThresholdValue() != 0 || cond.GetComparison() != monitoringpb.ComparisonType_COMPARISON_GT {
		tb.Errorf("condition fires on %s %v, want > 0", cond.GetComparison(), cond.GetThresholdValue())
	}
	window := cond.GetAggregations()[0].GetAlignmentPeriod().AsDuration()
	series, err := mon.ListTimeSeries(context.Background(), &monitoringpb.ListTimeSeriesRequest{
		Name: "projects/" + f.AlertsProject(), Filter: cond.GetFilter(), Aggregation: cond.GetAggregations()[0],
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(now.Add(-window)), EndTime: timestamppb.New(now)},
	})
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string]int64{}
	for _, s := range series {
		got[s.GetMetric().GetLabels()["category"]] = s.GetPoints()[0].GetValue().GetInt64Value()
	}
	return got
}
