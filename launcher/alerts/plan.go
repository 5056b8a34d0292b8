package alerts

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// Action is what apply does with one policy.
type Action string

// Actions.
const (
	Create    Action = "create"
	Update    Action = "update"
	Delete    Action = "delete"
	Unchanged Action = "unchanged"
)

// Symbol is the action's column in a plan.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Delete:
		return "-"
	}
	return ""
}

// Change is the plan for one policy.
type Change struct {
	Action      Action `json:"action"`
	Key         string `json:"key"`
	Signal      Signal `json:"signal,omitempty"`
	DisplayName string `json:"display_name"`
	// Name is the existing policy's resource name (update, delete, unchanged).
	Name       string   `json:"name,omitempty"`
	EventTypes int      `json:"event_types"`
	Reason     string   `json:"reason,omitempty"`
	Diff       []string `json:"diff,omitempty"`

	Desired *monitoringpb.AlertPolicy `json:"-"`
	Current *monitoringpb.AlertPolicy `json:"-"`
}

// Plan is what apply would do in the alerts project.
type Plan struct {
	Fleet   string   `json:"fleet"`
	Project string   `json:"project"`
	Changes []Change `json:"changes"`
	// Foreign counts the project's policies that are not this fleet's (left alone).
	Foreign int `json:"foreign_policies"`
	// Problems are reasons apply must not run (e.g. a notification channel that does not
	// exist).
	Problems []string `json:"problems"`
	// Descriptors are the custom metrics apply makes sure exist (for the drift policy).
	Descriptors []string `json:"metric_descriptors"`
}

// Counts per action.
type Counts struct {
	Create    int `json:"create"`
	Update    int `json:"update"`
	Delete    int `json:"delete"`
	Unchanged int `json:"unchanged"`
}

// Counts counts the plan's actions.
func (p *Plan) Counts() Counts {
	var c Counts
	for _, ch := range p.Changes {
		switch ch.Action {
		case Create:
			c.Create++
		case Update:
			c.Update++
		case Delete:
			c.Delete++
		case Unchanged:
			c.Unchanged++
		}
	}
	return c
}

// HasChanges reports whether apply would change anything.
func (p *Plan) HasChanges() bool {
	c := p.Counts()
	return c.Create+c.Update+c.Delete > 0
}

// Summary is the plan's one-line summary.
func (p *Plan) Summary() string {
	c := p.Counts()
	if !p.HasChanges() {
		return fmt.Sprintf("No changes. %d alert policies of fleet %s in %s are up to date.", c.Unchanged, p.Fleet, p.Project)
	}
	return fmt.Sprintf("Alerts plan: %d to create, %d to update, %d to delete, %d unchanged (project %s).", c.Create, c.Update, c.Delete, c.Unchanged, p.Project)
}

// Ours reports whether a policy belongs to a fleet: it carries the launcher's labels.
func Ours(p *monitoringpb.AlertPolicy, fleetName string) bool {
	l := p.GetUserLabels()
	return l[LabelManagedBy] == fleet.ManagedByValue && l[LabelFleet] == fleetName && l[LabelPolicy] != ""
}

// Observe reads the alerts project's policies and checks the notification channels the
// desired policies use.
func Observe(ctx context.Context, api monitoring.API, project string, desired []Policy) (current []*monitoringpb.AlertPolicy, problems []string, err error) {
	current, err = api.ListAlertPolicies(ctx, project)
	if err != nil {
		return nil, nil, fmt.Errorf("list alert policies of %s: %w", project, err)
	}
	var channels []string
	for _, d := range desired {
		for _, c := range d.Spec.GetNotificationChannels() {
			if !slices.Contains(channels, c) {
				channels = append(channels, c)
			}
		}
	}
	slices.Sort(channels)
	for _, c := range channels {
		ch, err := api.GetNotificationChannel(ctx, c)
		switch {
		case status.Code(err) == codes.NotFound:
			problems = append(problems, fmt.Sprintf("notification channel %s does not exist", c))
		case err != nil:
			return nil, nil, fmt.Errorf("read notification channel %s: %w", c, err)
		case ch.GetEnabled() != nil && !ch.GetEnabled().GetValue():
			problems = append(problems, fmt.Sprintf("notification channel %s (%s) is disabled: alerts would not reach anyone", c, ch.GetDisplayName()))
		}
	}
	return current, problems, nil
}

// Compute compares the desired policies with the project's; only the fleet's own
// policies are considered. Of several policies with one key (a create that took effect
// although it reported an error), the first by name is kept and the others deleted.
func Compute(f *fleet.Fleet, project string, desired []Policy, current []*monitoringpb.AlertPolicy, problems []string) *Plan {
	p := &Plan{Fleet: f.Name, Project: project, Problems: problems}
	if p.Problems == nil {
		p.Problems = []string{}
	}
	if f.DriftAfter() > 0 {
		p.Descriptors = []string{monitoring.MetricJobs, monitoring.MetricJobsOffPinned}
	}
	byKey := map[string]*monitoringpb.AlertPolicy{}
	var extra []*monitoringpb.AlertPolicy
	sorted := slices.Clone(current)
	slices.SortFunc(sorted, func(a, b *monitoringpb.AlertPolicy) int { return strings.Compare(a.GetName(), b.GetName()) })
	for _, c := range sorted {
		if !Ours(c, f.Name) {
			p.Foreign++
			continue
		}
		k := c.GetUserLabels()[LabelPolicy]
		if _, dup := byKey[k]; dup {
			extra = append(extra, c)
			continue
		}
		byKey[k] = c
	}
	for _, d := range desired {
		ch := Change{Key: d.Key, Signal: d.Signal, DisplayName: d.Spec.GetDisplayName(), EventTypes: len(d.EventTypes), Desired: d.Spec}
		cur, ok := byKey[d.Key]
		delete(byKey, d.Key)
		switch {
		case !ok:
			ch.Action, ch.Reason = Create, "no policy with this key"
		case cur.GetUserLabels()[LabelSpecHash] != d.Spec.GetUserLabels()[LabelSpecHash]:
			ch.Action, ch.Name, ch.Current = Update, cur.GetName(), cur
			ch.Diff = Diff(cur, d.Spec)
			ch.Reason = "spec changed"
		default:
			ch.Action, ch.Name, ch.Current = Unchanged, cur.GetName(), cur
		}
		p.Changes = append(p.Changes, ch)
	}
	var gone []*monitoringpb.AlertPolicy
	for _, c := range byKey {
		gone = append(gone, c)
	}
	slices.SortFunc(gone, func(a, b *monitoringpb.AlertPolicy) int { return strings.Compare(a.GetName(), b.GetName()) })
	for _, c := range gone {
		p.Changes = append(p.Changes, Change{Action: Delete, Key: c.GetUserLabels()[LabelPolicy], DisplayName: c.GetDisplayName(),
			Name: c.GetName(), Current: c, Reason: "no longer described by the fleet file"})
	}
	for _, c := range extra {
		p.Changes = append(p.Changes, Change{Action: Delete, Key: c.GetUserLabels()[LabelPolicy], DisplayName: c.GetDisplayName(),
			Name: c.GetName(), Current: c, Reason: "duplicate of another policy with this key"})
	}
	return p
}

// Diff lists what differs between two policies, one "field: old → new" per line.
func Diff(cur, want *monitoringpb.AlertPolicy) []string {
	a, b := fields(cur), fields(want)
	var out []string
	for _, k := range unionKeys(a, b) {
		if a[k] != b[k] {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, short(a[k]), short(b[k])))
		}
	}
	return out
}

func unionKeys(a, b map[string]string) []string {
	u := make(map[string]string, len(a)+len(b))
	maps.Copy(u, a)
	maps.Copy(u, b)
	return slices.Sorted(maps.Keys(u))
}

func short(s string) string {
	if s == "" {
		return "(none)"
	}
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// fields flattens what the launcher sets on a policy into printable fields.
func fields(p *monitoringpb.AlertPolicy) map[string]string {
	m := map[string]string{
		"display_name":          p.GetDisplayName(),
		"notification_channels": strings.Join(slices.Sorted(slices.Values(p.GetNotificationChannels())), ", "),
		"combiner":              p.GetCombiner().String(),
		"documentation":         p.GetDocumentation().GetContent(),
		"enabled":               fmt.Sprint(p.GetEnabled().GetValue()),
	}
	for i, c := range p.GetConditions() {
		pre := fmt.Sprintf("conditions[%d].", i)
		m[pre+"display_name"] = c.GetDisplayName()
		switch {
		case c.GetConditionThreshold() != nil:
			t := c.GetConditionThreshold()
			m[pre+"filter"] = t.GetFilter()
			m[pre+"threshold"] = fmt.Sprint(t.GetThresholdValue())
			m[pre+"duration"] = t.GetDuration().AsDuration().String()
			m[pre+"aggregations"] = compact(t.GetAggregations())
		case c.GetConditionAbsent() != nil:
			a := c.GetConditionAbsent()
			m[pre+"filter"] = a.GetFilter()
			m[pre+"duration"] = a.GetDuration().AsDuration().String()
		case c.GetConditionPrometheusQueryLanguage() != nil:
			q := c.GetConditionPrometheusQueryLanguage()
			m[pre+"query"] = q.GetQuery()
			m[pre+"duration"] = q.GetDuration().AsDuration().String()
		}
	}
	return m
}

func compact(aggs []*monitoringpb.Aggregation) string {
	var parts []string
	for _, a := range aggs {
		parts = append(parts, strings.Join(strings.Fields(prototext.MarshalOptions{}.Format(a)), " "))
	}
	return strings.Join(parts, "; ")
}

// Options change how a plan is applied.
type Options struct {
	// OnChange, if set, is told about each change as it is applied.
	OnChange func(c Change, err error)
}

// Result is what apply did.
type Result struct {
	Plan    *Plan    `json:"plan"`
	Applied []Change `json:"applied"`
	Failed  []string `json:"failed"`
}

// ProblemsError is returned when a plan has problems: nothing was changed.
type ProblemsError struct{ Problems []string }

func (e *ProblemsError) Error() string {
	return "alerts: refusing to apply: " + strings.Join(e.Problems, "; ")
}

// Apply makes sure the custom metrics exist, then creates, updates and deletes policies,
// one call at a time (alert policy writes are rate limited), and goes on after a failed
// change; the error lists the failures. A plan with problems changes nothing.
func Apply(ctx context.Context, api monitoring.API, p *Plan, opts Options) (*Result, error) {
	r := &Result{Plan: p, Applied: []Change{}, Failed: []string{}}
	if len(p.Problems) > 0 {
		return r, &ProblemsError{Problems: p.Problems}
	}
	if p.HasChanges() {
		for _, d := range monitoring.CustomMetrics() {
			if !slices.Contains(p.Descriptors, d.GetType()) {
				continue
			}
			if _, err := api.CreateMetricDescriptor(ctx, p.Project, d); err != nil {
				return r, fmt.Errorf("create metric descriptor %s: %w", d.GetType(), err)
			}
		}
	}
	var errs []error
	order := []Action{Create, Update, Delete}
	for _, act := range order {
		for _, c := range p.Changes {
			if c.Action != act {
				continue
			}
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			var err error
			switch act {
			case Create:
				var created *monitoringpb.AlertPolicy
				created, err = api.CreateAlertPolicy(ctx, p.Project, c.Desired)
				if err == nil {
					c.Name = created.GetName()
				}
			case Update:
				u := clone(c.Desired)
				u.Name = c.Name
				_, err = api.UpdateAlertPolicy(ctx, u)
			case Delete:
				err = api.DeleteAlertPolicy(ctx, c.Name)
				if status.Code(err) == codes.NotFound {
					err = nil // gone already: a retried delete that took effect
				}
			}
			if opts.OnChange != nil {
				opts.OnChange(c, err)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s (%s): %w", act, c.Key, c.DisplayName, err))
				r.Failed = append(r.Failed, c.Key)
				continue
			}
			r.Applied = append(r.Applied, c)
		}
	}
	return r, errors.Join(errs...)
}

func clone(p *monitoringpb.AlertPolicy) *monitoringpb.AlertPolicy { return proto.CloneOf(p) }
