// Package alerts keeps a fleet's Cloud Monitoring alert policies in sync with its fleet
// file: [Desired] turns the file into policies, [Compute] compares them with what the
// project holds, and [Apply] creates, updates and deletes the fleet's own policies.
//
// # One policy per signal, not per job
//
// Cloud Monitoring allows a few hundred policies per project (500 when this was
// written). A policy per job and signal would need 300 × 7 = 2,100. Instead each signal
// gets one policy for the whole fleet whose condition selects every job of the fleet
// (job names start with `<fleet>-`) and groups by job name, so Monitoring evaluates,
// opens and closes an incident per job. Event types whose alert settings differ from
// the rest (an overridden threshold or channel) are grouped by those settings and get a
// policy per group that lists their job names; the largest group takes the prefix
// filter and excludes the others. A 300-type fleet with no overrides has 8 policies;
// each distinct override adds one per signal it changes. Pub/Sub backlog is per
// subscription, so that policy lists subscription ids.
//
// # Limits
//
// Cloud Monitoring refuses a condition filter longer than 2,048 characters
// ([MaxFilterLength]). A listed group (or the backlog's subscription ids) is therefore
// split into policies whose lists fit [ListBudget] characters (and at most [MaxListed]
// names); when the largest group's exclusion list would not fit, that group is listed
// like the others. [Desired] checks every filter, display name and label against the
// API's limits before anything is written.
//
// # Ownership
//
// Every policy the launcher writes carries the user labels managed-by=eventdelivery,
// fleet=<fleet>, eventdelivery-policy=<key> and spec-hash=<hash of the desired policy>.
// Policies without them (hand-made, or another fleet's) are never read further, changed
// or deleted. A policy is updated when its spec-hash differs from the desired one, so a
// second apply changes nothing.
package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// User labels on the fleet's policies.
const (
	LabelManagedBy = "managed-by"
	LabelFleet     = "fleet"
	LabelPolicy    = "eventdelivery-policy"
	LabelSpecHash  = "spec-hash"
)

// MaxListed is the most job names or subscription ids one policy's filter lists.
const MaxListed = 100

// MaxFilterLength is the longest condition filter Cloud Monitoring accepts
// (alert.proto: "must not exceed 2048 Unicode characters").
const MaxFilterLength = 2048

// ListBudget is the characters of a filter left for a list of quoted names
// (`"a", "b"`): the limit less room for the longest fixed part of a filter
// (metric type, resource type, label, `one_of()`).
const ListBudget = MaxFilterLength - 256

// Signal is what a policy watches.
type Signal string

// Signals.
const (
	SystemLag     Signal = "system-lag"
	DataFreshness Signal = "data-freshness"
	JobDown       Signal = "job-down"
	HoursClosed   Signal = "hours-not-closed"
	DeadLetters   Signal = "dead-letters"
	Backlog       Signal = "backlog"
	Drift         Signal = "version-drift"
)

// Signals in the order policies are listed.
var Signals = []Signal{SystemLag, DataFreshness, JobDown, HoursClosed, DeadLetters, Backlog, Drift}

// Metric types the policies use.
const (
	MetricSystemLag    = "dataflow.googleapis.com/job/system_lag"
	MetricWatermarkAge = "dataflow.googleapis.com/job/data_watermark_age"
	MetricIsFailed     = "dataflow.googleapis.com/job/is_failed"
	MetricUserCounter  = "dataflow.googleapis.com/job/user_counter"
	MetricOldestUnack  = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
	// PromUserCounter is MetricUserCounter's PromQL name.
	PromUserCounter = "dataflow_googleapis_com:job_user_counter"
	// CounterBucketsClosed and CounterInvalid are the pipeline's Beam counters (namespace
	// eventdelivery) for a manifest written and a dead letter.
	CounterBucketsClosed = "buckets_closed"
	CounterInvalid       = "invalid"
)

// Policy is one desired alert policy.
type Policy struct {
	// Key identifies the policy within the fleet (its eventdelivery-policy label).
	Key    string `json:"key"`
	Signal Signal `json:"signal"`
	// EventTypes the policy watches, in file order (all of them for fleet-wide signals).
	EventTypes []string `json:"event_types"`
	// Spec is the policy to write, with its user labels (spec-hash included).
	Spec *monitoringpb.AlertPolicy `json:"-"`
}

// Hash returns a policy's spec-hash label value: ten hex digits of a SHA-256 over its
// deterministic encoding, without name, records and the spec-hash label itself.
func Hash(p *monitoringpb.AlertPolicy) string {
	c := proto.CloneOf(p)
	c.Name, c.CreationRecord, c.MutationRecord = "", nil, nil
	delete(c.UserLabels, LabelSpecHash)
	for _, cond := range c.Conditions {
		cond.Name = ""
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:10]
}

// group is a set of event types that share a signal's settings.
type group struct {
	settings string // the settings that define the group, printable
	members  []fleet.Job
}

// Desired returns the fleet's policies, ordered by signal and key. It fails when the
// fleet has no alerts project or names channels of another project.
func Desired(f *fleet.Fleet) ([]Policy, error) {
	project := f.AlertsProject()
	if project == "" {
		return nil, fmt.Errorf("no project for the alert policies: set defaults.alerts.project (or defaults.project)")
	}
	jobs := f.Jobs()
	for _, j := range jobs {
		for _, ch := range j.Alerts.Channels {
			if !strings.HasPrefix(ch, "projects/"+project+"/") {
				return nil, fmt.Errorf("event type %s: notification channel %s is not in the alerts project %s (a policy can only notify channels of its own project)", j.EventType, ch, project)
			}
		}
	}
	var out []Policy
	for _, sig := range Signals {
		if sig == Drift {
			if d := f.DriftAfter(); d > 0 {
				out = append(out, finish(f, Policy{Key: string(Drift), Signal: Drift, EventTypes: names(jobs)}, driftPolicy(f, d, f.Defaults.Alerts.Channels)))
			}
			continue
		}
		groups := groupBy(jobs, sig)
		for gi, g := range groups {
			key := string(sig)
			if gi > 0 {
				h := sha256.Sum256([]byte(g.settings))
				key += "-" + hex.EncodeToString(h[:])[:6]
			}
			if sig == Backlog {
				// Subscriptions have no common prefix: list them, within the budget.
				for ci, chunk := range chunks(g.members, subscriptionID) {
					k := key
					if ci > 0 {
						k = fmt.Sprintf("%s-%d", key, ci+1)
					}
					out = append(out, finish(f, Policy{Key: k, Signal: sig, EventTypes: names(chunk)}, backlogPolicy(f, chunk)))
				}
				continue
			}
			if gi == 0 {
				// Every other job of the fleet (other groups, and jobs with the signal off).
				var others []fleet.Job
				for _, j := range jobs {
					if !slices.ContainsFunc(g.members, func(m fleet.Job) bool { return m.Name == j.Name }) {
						others = append(others, j)
					}
				}
				if fits(jobNames(others)) {
					sel := selector{fleet: f.Name, exclude: jobNames(others)}
					out = append(out, finish(f, Policy{Key: key, Signal: sig, EventTypes: names(g.members)}, signalPolicy(f, sig, g.members[0], sel)))
					continue
				}
			}
			for ci, chunk := range chunks(g.members, jobName) {
				k := key
				if ci > 0 {
					k = fmt.Sprintf("%s-%d", key, ci+1)
				}
				sel := selector{fleet: f.Name, only: jobNames(chunk)}
				out = append(out, finish(f, Policy{Key: k, Signal: sig, EventTypes: names(chunk)}, signalPolicy(f, sig, chunk[0], sel)))
			}
		}
	}
	for _, p := range out {
		if err := checkLimits(p.Spec); err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Key, err)
		}
	}
	return out, nil
}

// checkLimits checks a policy against the limits of alert.proto that a fleet can reach.
func checkLimits(p *monitoringpb.AlertPolicy) error {
	if n := utf8.RuneCountInString(p.GetDisplayName()); n > 512 {
		return fmt.Errorf("display name of %d characters; Cloud Monitoring takes 512", n)
	}
	if n := len(p.GetConditions()); n > 6 {
		return fmt.Errorf("%d conditions; Cloud Monitoring takes 6", n)
	}
	for _, c := range p.GetConditions() {
		for _, filter := range []string{c.GetConditionThreshold().GetFilter(), c.GetConditionAbsent().GetFilter()} {
			if n := utf8.RuneCountInString(filter); n > MaxFilterLength {
				return fmt.Errorf("condition %q: filter of %d characters; Cloud Monitoring takes %d", c.GetDisplayName(), n, MaxFilterLength)
			}
		}
	}
	return nil
}

func jobName(j fleet.Job) string { return j.Name }

// subscriptionID is the id of a job's subscription, what the backlog filter lists.
func subscriptionID(j fleet.Job) string {
	id := j.Parameters[fleet.ParamSubscription]
	return id[strings.LastIndex(id, "/")+1:]
}

// listLength is the characters a list of names takes in a filter: quoted, ", " between.
func listLength(names []string) int {
	n := 0
	for i, s := range names {
		if i > 0 {
			n += 2
		}
		n += len(fmt.Sprintf("%q", s))
	}
	return n
}

func fits(names []string) bool { return len(names) <= MaxListed && listLength(names) <= ListBudget }

func finish(f *fleet.Fleet, p Policy, spec *monitoringpb.AlertPolicy) Policy {
	spec.UserLabels = map[string]string{
		LabelManagedBy: fleet.ManagedByValue,
		LabelFleet:     f.Name,
		LabelPolicy:    p.Key,
	}
	spec.Enabled = wrapperspb.Bool(true)
	spec.UserLabels[LabelSpecHash] = Hash(spec)
	p.Spec = spec
	return p
}

func names(jobs []fleet.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.EventType
	}
	return out
}

func jobNames(jobs []fleet.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.Name
	}
	slices.Sort(out)
	return out
}

// chunks splits jobs, in order, into the fewest runs whose ids (distinct) fit in one
// filter list.
func chunks(jobs []fleet.Job, id func(fleet.Job) string) [][]fleet.Job {
	var out [][]fleet.Job
	start := 0
	var ids []string
	for i, j := range jobs {
		next := ids
		if !slices.Contains(ids, id(j)) {
			next = append(slices.Clone(ids), id(j))
		}
		if i > start && !fits(next) {
			out = append(out, jobs[start:i])
			start, next = i, []string{id(j)}
		}
		ids = next
	}
	return append(out, jobs[start:])
}

// settingsOf is what decides a job's policy for a signal; "" means the signal is off
// for the job.
func settingsOf(j fleet.Job, sig Signal) string {
	a := j.Alerts
	ch := strings.Join(slices.Sorted(slices.Values(a.Channels)), ",")
	// above is a threshold signal's settings; off when its threshold is 0.
	above := func(threshold fmt.Stringer, off bool) string {
		if off {
			return ""
		}
		return fmt.Sprintf("above %s for %s; channels %s", threshold, a.For, ch)
	}
	switch sig {
	case SystemLag:
		return above(a.SystemLag, a.SystemLag == 0)
	case DataFreshness:
		return above(a.DataFreshness, a.DataFreshness == 0)
	case Backlog:
		return above(a.Backlog, a.Backlog == 0)
	case DeadLetters:
		return above(perMinute(a.DeadLettersPerMinute), a.DeadLettersPerMinute == 0)
	case JobDown:
		return fmt.Sprintf("missing for %s; channels %s", a.JobMissing, ch)
	case HoursClosed:
		if a.ClosedHourOff {
			return ""
		}
		return fmt.Sprintf("none in %s; channels %s", closedWindow(j), ch)
	}
	return ""
}

// perMinute prints a rate as settingsOf compares it: 2.5/min.
type perMinute float64

func (r perMinute) String() string { return fmt.Sprintf("%g/min", float64(r)) }

// closedWindow is how long a job may go without closing an hour: bucket width + skew
// tolerance + margin, in whole minutes.
func closedWindow(j fleet.Job) time.Duration {
	w := j.BucketWidth() + j.SkewTolerance() + j.Alerts.ClosedHourMargin
	return (w + time.Minute - 1).Truncate(time.Minute)
}

// groupBy groups the jobs that have a signal on by their settings; the largest group
// (ties: the one whose first member comes first in the file) comes first.
func groupBy(jobs []fleet.Job, sig Signal) []group {
	idx := map[string]int{}
	var groups []group
	for _, j := range jobs {
		s := settingsOf(j, sig)
		if s == "" {
			continue
		}
		i, ok := idx[s]
		if !ok {
			i = len(groups)
			idx[s] = i
			groups = append(groups, group{settings: s})
		}
		groups[i].members = append(groups[i].members, j)
	}
	slices.SortStableFunc(groups, func(a, b group) int { return len(b.members) - len(a.members) })
	return groups
}

// selector picks the fleet's jobs: every job of the fleet but the excluded ones, or
// only the listed ones.
type selector struct {
	fleet   string
	exclude []string
	only    []string
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// filter is the Monitoring filter clause on resource.label.job_name.
func (s selector) filter() string {
	if len(s.only) > 0 {
		return fmt.Sprintf("resource.label.job_name = one_of(%s)", quoteAll(s.only))
	}
	f := fmt.Sprintf("resource.label.job_name = starts_with(%q)", s.fleet+"-")
	if len(s.exclude) > 0 {
		f += fmt.Sprintf(" AND NOT resource.label.job_name = one_of(%s)", quoteAll(s.exclude))
	}
	return f
}

// promql is the PromQL matchers on job_name.
func (s selector) promql() string {
	if len(s.only) > 0 {
		return fmt.Sprintf(`job_name=~"%s"`, strings.Join(s.only, "|"))
	}
	m := fmt.Sprintf(`job_name=~"%s-.*"`, s.fleet)
	if len(s.exclude) > 0 {
		m += fmt.Sprintf(`,job_name!~"%s"`, strings.Join(s.exclude, "|"))
	}
	return m
}

func byJob(period time.Duration) []*monitoringpb.Aggregation {
	return []*monitoringpb.Aggregation{{
		AlignmentPeriod:    durationpb.New(period),
		PerSeriesAligner:   monitoringpb.Aggregation_ALIGN_MAX,
		CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_MAX,
		GroupByFields:      []string{"resource.label.job_name"},
	}}
}

func threshold(name, filter string, agg []*monitoringpb.Aggregation, above float64, dur time.Duration) *monitoringpb.AlertPolicy_Condition {
	return &monitoringpb.AlertPolicy_Condition{
		DisplayName: name,
		Condition: &monitoringpb.AlertPolicy_Condition_ConditionThreshold{ConditionThreshold: &monitoringpb.AlertPolicy_Condition_MetricThreshold{
			Filter:         filter,
			Aggregations:   agg,
			Comparison:     monitoringpb.ComparisonType_COMPARISON_GT,
			ThresholdValue: above,
			Duration:       durationpb.New(dur),
			Trigger:        &monitoringpb.AlertPolicy_Condition_Trigger{Type: &monitoringpb.AlertPolicy_Condition_Trigger_Count{Count: 1}},
		}},
	}
}

func doc(f *fleet.Fleet, sig Signal, text string) *monitoringpb.AlertPolicy_Documentation {
	return &monitoringpb.AlertPolicy_Documentation{
		MimeType: "text/markdown",
		Subject:  fmt.Sprintf("[%s] %s: ${resource.label.job_name}", f.Name, sig),
		Content: text + fmt.Sprintf("\n\nFleet `%s`, managed by `launcher alerts apply` (fleet file %s): edits made here are overwritten. "+
			"Runbook: docs/operations.md, section \"%s\".", f.Name, baseName(f.Path), sig),
	}
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func signalPolicy(f *fleet.Fleet, sig Signal, j fleet.Job, sel selector) *monitoringpb.AlertPolicy {
	a := j.Alerts
	dataflowJobs := `resource.type = "dataflow_job" AND ` + sel.filter()
	p := &monitoringpb.AlertPolicy{Combiner: monitoringpb.AlertPolicy_OR, NotificationChannels: slices.Sorted(slices.Values(a.Channels))}
	switch sig {
	case SystemLag:
		p.DisplayName = fmt.Sprintf("%s: system lag above %s", f.Name, fmtDur(a.SystemLag))
		p.Conditions = []*monitoringpb.AlertPolicy_Condition{threshold("system lag above "+fmtDur(a.SystemLag)+" for "+fmtDur(a.For),
			fmt.Sprintf("metric.type = %q AND %s", MetricSystemLag, dataflowJobs), byJob(time.Minute), a.SystemLag.Seconds(), a.For)}
		p.Documentation = doc(f, sig, "A job has had elements waiting longer than the threshold: it does not keep up with its input.")
	case DataFreshness:
		p.DisplayName = fmt.Sprintf("%s: data watermark older than %s", f.Name, fmtDur(a.DataFreshness))
		p.Conditions = []*monitoringpb.AlertPolicy_Condition{threshold("data watermark age above "+fmtDur(a.DataFreshness)+" for "+fmtDur(a.For),
			fmt.Sprintf("metric.type = %q AND %s", MetricWatermarkAge, dataflowJobs), byJob(time.Minute), a.DataFreshness.Seconds(), a.For)}
		p.Documentation = doc(f, sig, "A job's data watermark lags wall time by more than the threshold: its hours will close late.")
	case JobDown:
		p.DisplayName = fmt.Sprintf("%s: job failed or missing", f.Name)
		p.Conditions = []*monitoringpb.AlertPolicy_Condition{threshold("job failed",
			fmt.Sprintf("metric.type = %q AND %s", MetricIsFailed, dataflowJobs), byJob(time.Minute), 0, 0)}
		if a.JobMissing > 0 {
			p.Conditions = append(p.Conditions, &monitoringpb.AlertPolicy_Condition{
				DisplayName: "job reports no system lag for " + fmtDur(a.JobMissing),
				Condition: &monitoringpb.AlertPolicy_Condition_ConditionAbsent{ConditionAbsent: &monitoringpb.AlertPolicy_Condition_MetricAbsence{
					Filter:       fmt.Sprintf("metric.type = %q AND %s", MetricSystemLag, dataflowJobs),
					Aggregations: byJob(time.Minute),
					Duration:     durationpb.New(a.JobMissing),
					Trigger:      &monitoringpb.AlertPolicy_Condition_Trigger{Type: &monitoringpb.AlertPolicy_Condition_Trigger_Count{Count: 1}},
				}},
			})
		}
		p.Documentation = doc(f, sig, "A job failed (Dataflow's is_failed), or stopped reporting metrics: it is cancelled, drained, or stuck.")
	case HoursClosed:
		w := closedWindow(j)
		p.DisplayName = fmt.Sprintf("%s: no hour closed for %s", f.Name, fmtDur(w))
		// user_counter is a GAUGE holding the counter's running total per job, so the
		// aligners ALIGN_DELTA/ALIGN_RATE (CUMULATIVE and DELTA metrics only) do not
		// apply; PromQL's delta() is the difference of a gauge over a range.
		q := fmt.Sprintf(`max by (job_name) (delta(%s{monitored_resource="dataflow_job",metric_name=%q,%s}[%dm])) < 0.5`,
			PromUserCounter, CounterBucketsClosed, sel.promql(), int(w.Minutes()))
		p.Conditions = []*monitoringpb.AlertPolicy_Condition{promCondition("no manifest written for "+fmtDur(w), q, 0)}
		p.Documentation = doc(f, sig, fmt.Sprintf("A job wrote no `_SUCCESS` manifest (Beam counter `%s`) for bucket width + skew tolerance + %s: downstream jobs are waiting for an hour that does not close.", CounterBucketsClosed, fmtDur(a.ClosedHourMargin)))
	case DeadLetters:
		q := fmt.Sprintf(`sum by (job_name) (delta(%s{monitored_resource="dataflow_job",metric_name=%q,%s}[10m])) / 10 > %g`,
			PromUserCounter, CounterInvalid, sel.promql(), a.DeadLettersPerMinute)
		p.DisplayName = fmt.Sprintf("%s: dead letters above %g/min", f.Name, a.DeadLettersPerMinute)
		p.Conditions = []*monitoringpb.AlertPolicy_Condition{promCondition(fmt.Sprintf("dead letters above %g/min for %s", a.DeadLettersPerMinute, fmtDur(a.For)), q, a.For)}
		p.Documentation = doc(f, sig, fmt.Sprintf("A job sends more than the threshold of events per minute to its dead-letter folder (Beam counter `%s`): producers send data that does not match the schema.", CounterInvalid))
	}
	return p
}

func promCondition(name, query string, dur time.Duration) *monitoringpb.AlertPolicy_Condition {
	return &monitoringpb.AlertPolicy_Condition{
		DisplayName: name,
		Condition: &monitoringpb.AlertPolicy_Condition_ConditionPrometheusQueryLanguage{ConditionPrometheusQueryLanguage: &monitoringpb.AlertPolicy_Condition_PrometheusQueryLanguageCondition{
			Query:              query,
			Duration:           durationpb.New(dur),
			EvaluationInterval: durationpb.New(time.Minute),
		}},
	}
}

func backlogPolicy(f *fleet.Fleet, jobs []fleet.Job) *monitoringpb.AlertPolicy {
	a := jobs[0].Alerts
	var subs []string
	for _, j := range jobs {
		id := subscriptionID(j)
		if !slices.Contains(subs, id) {
			subs = append(subs, id)
		}
	}
	slices.Sort(subs)
	filter := fmt.Sprintf(`metric.type = %q AND resource.type = "pubsub_subscription" AND resource.label.subscription_id = one_of(%s)`, MetricOldestUnack, quoteAll(subs))
	agg := []*monitoringpb.Aggregation{{
		AlignmentPeriod:    durationpb.New(time.Minute),
		PerSeriesAligner:   monitoringpb.Aggregation_ALIGN_MAX,
		CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_MAX,
		GroupByFields:      []string{"resource.label.subscription_id"},
	}}
	return &monitoringpb.AlertPolicy{
		DisplayName:          fmt.Sprintf("%s: subscription backlog older than %s", f.Name, fmtDur(a.Backlog)),
		Combiner:             monitoringpb.AlertPolicy_OR,
		NotificationChannels: slices.Sorted(slices.Values(a.Channels)),
		Conditions: []*monitoringpb.AlertPolicy_Condition{threshold("oldest unacked message older than "+fmtDur(a.Backlog)+" for "+fmtDur(a.For),
			filter, agg, a.Backlog.Seconds(), a.For)},
		Documentation: doc(f, Backlog, "A subscription's oldest unacknowledged message is older than the threshold: its job reads too slowly, or is not reading."),
	}
}

func driftPolicy(f *fleet.Fleet, after time.Duration, channels []string) *monitoringpb.AlertPolicy {
	filter := func(metric string) string {
		return fmt.Sprintf(`metric.type = %q AND resource.type = "global" AND metric.label.fleet = %q`, metric, f.Name)
	}
	agg := []*monitoringpb.Aggregation{{
		AlignmentPeriod:  durationpb.New(10 * time.Minute),
		PerSeriesAligner: monitoringpb.Aggregation_ALIGN_MAX,
	}}
	if channels == nil {
		channels = []string{}
	}
	// Jobs that failed, or never ran (a launch that failed before the job started writes
	// no Dataflow metrics, so job-down cannot see it): from the launcher's own metric.
	// status writes no series for a category without jobs, so missing data means none.
	down := threshold("jobs failed or missing (launcher status)",
		filter(monitoring.MetricJobs)+` AND metric.label.category = one_of("failed", "missing")`,
		[]*monitoringpb.Aggregation{{
			AlignmentPeriod:    durationpb.New(10 * time.Minute),
			PerSeriesAligner:   monitoringpb.Aggregation_ALIGN_MAX,
			CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_SUM,
			GroupByFields:      []string{"metric.label.category"},
		}}, 0, 0)
	down.GetConditionThreshold().EvaluationMissingData = monitoringpb.AlertPolicy_Condition_EVALUATION_MISSING_DATA_INACTIVE
	return &monitoringpb.AlertPolicy{
		DisplayName:          fmt.Sprintf("%s: jobs off the pinned version for %s", f.Name, fmtDur(after)),
		Combiner:             monitoringpb.AlertPolicy_OR,
		NotificationChannels: slices.Sorted(slices.Values(channels)),
		Conditions: []*monitoringpb.AlertPolicy_Condition{
			threshold("jobs off the pinned version for "+fmtDur(after), filter(monitoring.MetricJobsOffPinned), agg, 0, after),
			{
				DisplayName: "launcher status --publish-metrics stopped reporting",
				Condition: &monitoringpb.AlertPolicy_Condition_ConditionAbsent{ConditionAbsent: &monitoringpb.AlertPolicy_Condition_MetricAbsence{
					Filter:   filter(monitoring.MetricJobsOffPinned),
					Duration: durationpb.New(time.Hour),
					Trigger:  &monitoringpb.AlertPolicy_Condition_Trigger{Type: &monitoringpb.AlertPolicy_Condition_Trigger_Count{Count: 1}},
				}},
			},
			down,
		},
		Documentation: doc(f, Drift, "Some event types have not run the pinned version and configuration of the fleet file for longer than the threshold, "+
			"or their job failed or never ran (a launch that failed before the job started; from `launcher status --publish-metrics`, run on a schedule), or the scheduled status run stopped."),
	}
}

func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
