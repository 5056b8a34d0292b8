package fakemonitoring

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var (
	userLabelKeyRe   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	userLabelValueRe = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	channelNameRe    = regexp.MustCompile(`^projects/([^/]+)/notificationChannels/([^/]+)$`)
	policyNameRe     = regexp.MustCompile(`^projects/([^/]+)/alertPolicies/([^/]+)$`)
)

// Limits of alert.proto, enforced as the API does (lengths in Unicode characters unless
// the proto says bytes).
const (
	maxConditions     = 6
	maxAlertAlignment = 25 * time.Hour
	// MaxFilterLength is the longest condition filter (and denominator filter).
	MaxFilterLength     = 2048
	maxDisplayName      = 512
	maxUserLabels       = 64
	maxLabelChars       = 63
	maxLabelBytes       = 128
	maxDocContentChars  = 8192
	maxDocContentBytes  = 10240
	maxDocSubjectBytes  = 10240
	maxDocLinks         = 3
	maxLinkDisplayName  = 63
	maxLinkURL          = 2083
	maxPromQLRuleFields = 2048
)

// chars counts Unicode characters.
func chars(s string) int { return utf8.RuneCountInString(s) }

// checkFilterLength refuses a filter longer than the API takes.
func checkFilterLength(field, filter string) error {
	if n := chars(filter); n > MaxFilterLength {
		return invalid("%s: the filter is %d characters long; it must not exceed %d", field, n, MaxFilterLength)
	}
	return nil
}

// validatePolicy applies the API's rules to a policy about to be stored. Callers hold mu.
func (s *Service) validatePolicy(project string, p *monitoringpb.AlertPolicy) error {
	switch {
	case strings.TrimSpace(p.GetDisplayName()) == "":
		return invalid("alert_policy.display_name is required")
	case chars(p.GetDisplayName()) > maxDisplayName:
		return invalid("alert_policy.display_name is %d characters long; at most %d", chars(p.GetDisplayName()), maxDisplayName)
	case len(p.GetConditions()) == 0:
		return invalid("alert_policy.conditions: at least one condition is required")
	case len(p.GetConditions()) > maxConditions:
		return invalid("alert_policy.conditions: %d conditions; at most %d", len(p.GetConditions()), maxConditions)
	case len(p.GetConditions()) > 1 && p.GetCombiner() == monitoringpb.AlertPolicy_COMBINE_UNSPECIFIED:
		return invalid("alert_policy.combiner is required when a policy has more than one condition")
	case len(p.GetUserLabels()) > maxUserLabels:
		return invalid("alert_policy.user_labels: %d labels; at most %d", len(p.GetUserLabels()), maxUserLabels)
	case chars(p.GetDocumentation().GetContent()) > maxDocContentChars || len(p.GetDocumentation().GetContent()) > maxDocContentBytes:
		return invalid("alert_policy.documentation.content is %d characters (%d bytes) long; at most %d characters and %d bytes",
			chars(p.GetDocumentation().GetContent()), len(p.GetDocumentation().GetContent()), maxDocContentChars, maxDocContentBytes)
	case len(p.GetDocumentation().GetSubject()) > maxDocSubjectBytes:
		return invalid("alert_policy.documentation.subject is %d bytes long; at most %d", len(p.GetDocumentation().GetSubject()), maxDocSubjectBytes)
	case len(p.GetDocumentation().GetLinks()) > maxDocLinks:
		return invalid("alert_policy.documentation.links: %d links; at most %d", len(p.GetDocumentation().GetLinks()), maxDocLinks)
	case p.GetDocumentation() != nil && p.GetDocumentation().GetMimeType() != "" && p.GetDocumentation().GetMimeType() != "text/markdown":
		return invalid("alert_policy.documentation.mime_type %q: only text/markdown is supported", p.GetDocumentation().GetMimeType())
	}
	for i, l := range p.GetDocumentation().GetLinks() {
		if chars(l.GetDisplayName()) > maxLinkDisplayName || chars(l.GetUrl()) > maxLinkURL {
			return invalid("alert_policy.documentation.links[%d]: display_name at most %d and url at most %d characters", i, maxLinkDisplayName, maxLinkURL)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.GetUserLabels())) {
		v := p.GetUserLabels()[k]
		if chars(k) > maxLabelChars || len(k) > maxLabelBytes || chars(v) > maxLabelChars || len(v) > maxLabelBytes {
			return invalid("alert_policy.user_labels: %q=%q: keys and values are limited to %d characters or %d bytes", k, v, maxLabelChars, maxLabelBytes)
		}
		if !userLabelKeyRe.MatchString(k) || !userLabelValueRe.MatchString(v) {
			return invalid("alert_policy.user_labels: %q=%q: keys start with a lowercase letter; keys and values hold at most 63 lowercase letters, digits, '_' or '-'", k, p.GetUserLabels()[k])
		}
	}
	for i, ch := range p.GetNotificationChannels() {
		m := channelNameRe.FindStringSubmatch(ch)
		if m == nil {
			return invalid("alert_policy.notification_channels[%d]: %q is not projects/P/notificationChannels/ID", i, ch)
		}
		if _, ok := s.channels[m[1]][ch]; !ok || m[1] != project {
			return invalid("alert_policy.notification_channels[%d]: notification channel %q does not exist in project %s", i, ch, project)
		}
	}
	for i, c := range p.GetConditions() {
		field := fmt.Sprintf("alert_policy.conditions[%d]", i)
		if strings.TrimSpace(c.GetDisplayName()) == "" {
			return invalid("%s.display_name is required", field)
		}
		if err := s.validateCondition(project, field, c); err != nil {
			return err
		}
	}
	return nil
}

func wholeMinutes(d time.Duration) bool { return d%time.Minute == 0 }

func (s *Service) validateCondition(project, field string, c *monitoringpb.AlertPolicy_Condition) error {
	switch x := c.GetCondition().(type) {
	case *monitoringpb.AlertPolicy_Condition_ConditionThreshold:
		t := x.ConditionThreshold
		field += ".condition_threshold"
		if err := checkFilterLength(field+".filter", t.GetFilter()); err != nil {
			return err
		}
		if err := checkFilterLength(field+".denominator_filter", t.GetDenominatorFilter()); err != nil {
			return err
		}
		sel, err := s.compileFilter(project, t.GetFilter())
		if err != nil {
			return invalid("%s.filter: %v", field, err)
		}
		for i, a := range t.GetAggregations() {
			if err := checkAggregation(fmt.Sprintf("%s.aggregations[%d]", field, i), a, sel.descriptor, time.Minute, maxAlertAlignment); err != nil {
				return invalid("%v", err)
			}
		}
		if t.GetDenominatorFilter() != "" {
			if _, err := s.compileFilter(project, t.GetDenominatorFilter()); err != nil {
				return invalid("%s.denominator_filter: %v", field, err)
			}
		}
		if t.GetComparison() == monitoringpb.ComparisonType_COMPARISON_UNSPECIFIED {
			return invalid("%s.comparison is required", field)
		}
		if d := t.GetDuration().AsDuration(); t.GetDuration() == nil || d < 0 || !wholeMinutes(d) {
			return invalid("%s.duration %s: must be set, in whole minutes (0s, 60s, 120s, …)", field, d)
		}
		if err := checkTrigger(field, t.GetTrigger()); err != nil {
			return err
		}
	case *monitoringpb.AlertPolicy_Condition_ConditionAbsent:
		a := x.ConditionAbsent
		field += ".condition_absent"
		if err := checkFilterLength(field+".filter", a.GetFilter()); err != nil {
			return err
		}
		sel, err := s.compileFilter(project, a.GetFilter())
		if err != nil {
			return invalid("%s.filter: %v", field, err)
		}
		for i, ag := range a.GetAggregations() {
			if err := checkAggregation(fmt.Sprintf("%s.aggregations[%d]", field, i), ag, sel.descriptor, time.Minute, maxAlertAlignment); err != nil {
				return invalid("%v", err)
			}
		}
		if d := a.GetDuration().AsDuration(); a.GetDuration() == nil || d < 2*time.Minute || !wholeMinutes(d) {
			return invalid("%s.duration %s: must be at least 120s, in whole minutes", field, d)
		}
		if err := checkTrigger(field, a.GetTrigger()); err != nil {
			return err
		}
	case *monitoringpb.AlertPolicy_Condition_ConditionPrometheusQueryLanguage:
		q := x.ConditionPrometheusQueryLanguage
		field += ".condition_prometheus_query_language"
		switch {
		case strings.TrimSpace(q.GetQuery()) == "":
			return invalid("%s.query must not be empty", field)
		case chars(q.GetRuleGroup()) > maxPromQLRuleFields || chars(q.GetAlertRule()) > maxPromQLRuleFields:
			return invalid("%s: rule_group and alert_rule are limited to %d characters", field, maxPromQLRuleFields)
		}
		if !q.GetDisableMetricValidation() {
			if err := s.checkPromQL(project, q.GetQuery()); err != nil {
				return invalid("%s.query: %v", field, err)
			}
		}
		if d := q.GetDuration().AsDuration(); d < 0 || !wholeMinutes(d) {
			return invalid("%s.duration %s: must be whole minutes", field, d)
		}
		if q.GetEvaluationInterval() != nil {
			if d := q.GetEvaluationInterval().AsDuration(); d <= 0 || d%(30*time.Second) != 0 {
				return invalid("%s.evaluation_interval %s: must be a positive multiple of 30s", field, d)
			}
		}
	case nil:
		return invalid("%s: one of condition_threshold, condition_absent, condition_prometheus_query_language, … is required", field)
	default:
		return invalid("%s: fakemonitoring supports threshold, absence and PromQL conditions only", field)
	}
	return nil
}

func checkTrigger(field string, t *monitoringpb.AlertPolicy_Condition_Trigger) error {
	if t == nil {
		return nil
	}
	if p := t.GetPercent(); p < 0 || p > 100 {
		return invalid("%s.trigger.percent %v: must be in [0, 100]", field, p)
	}
	if t.GetCount() < 0 {
		return invalid("%s.trigger.count must not be negative", field)
	}
	return nil
}

// nameConditions gives every condition a name, keeping names of conditions that already
// have one.
func (s *Service) nameConditions(policyName string, p *monitoringpb.AlertPolicy) {
	for _, c := range p.GetConditions() {
		if !strings.HasPrefix(c.GetName(), policyName+"/conditions/") {
			c.Name = policyName + "/conditions/" + s.nextID()
		}
	}
}

// CreateAlertPolicy creates a policy; the server picks its name.
func (s *Service) CreateAlertPolicy(_ context.Context, req *monitoringpb.CreateAlertPolicyRequest) (*monitoringpb.AlertPolicy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project, err := projectOf(req.GetName())
	if err != nil {
		return nil, err
	}
	p := proto.CloneOf(req.GetAlertPolicy())
	if p == nil {
		return nil, invalid("alert_policy is required")
	}
	if err := s.validatePolicy(project, p); err != nil {
		return nil, err
	}
	p.Name = fmt.Sprintf("projects/%s/alertPolicies/%s", project, s.nextID())
	s.nameConditions(p.Name, p)
	if p.Enabled == nil {
		p.Enabled = wrapperspb.Bool(true)
	}
	now := timestamppb.New(s.cfg.now())
	p.CreationRecord = &monitoringpb.MutationRecord{MutateTime: now, MutatedBy: "fakemonitoring"}
	p.MutationRecord = &monitoringpb.MutationRecord{MutateTime: now, MutatedBy: "fakemonitoring"}
	store(s.policies, project, p.Name, p)
	return proto.CloneOf(p), nil
}

func (s *Service) lookupPolicy(name string) (*monitoringpb.AlertPolicy, string, error) {
	return lookup(s.policies, policyNameRe, name, "projects/P/alertPolicies/ID", "alert policy")
}

// lookup finds the item called name in items (project → name → item): name must match re,
// whose first group is the project (else INVALID_ARGUMENT, "want" says the form), and the
// item must exist (else NOT_FOUND, "kind" says what it is). It returns the project too.
func lookup[T any](items map[string]map[string]T, re *regexp.Regexp, name, want, kind string) (T, string, error) {
	var zero T
	m := re.FindStringSubmatch(name)
	if m == nil {
		return zero, "", invalid("name %q: want %s", name, want)
	}
	it, ok := items[m[1]][name]
	if !ok {
		return zero, "", status.Errorf(codes.NotFound, "%s %s does not exist", kind, name)
	}
	return it, m[1], nil
}

// found returns a copy of what lookup found, or its error.
func found[T proto.Message](it T, _ string, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return proto.CloneOf(it), nil
}

// store puts it into items (project → name → item) under project and name.
func store[T any](items map[string]map[string]T, project, name string, it T) {
	if items[project] == nil {
		items[project] = map[string]T{}
	}
	items[project][name] = it
}

// remove deletes the item lookup finds by name from items (project → name → item).
func remove[T any](items map[string]map[string]T, lookup func(string) (T, string, error), name string) (*emptypb.Empty, error) {
	_, project, err := lookup(name)
	if err != nil {
		return nil, err
	}
	delete(items[project], name)
	return &emptypb.Empty{}, nil
}

// copies returns copies of items, by name.
func copies[T proto.Message](items map[string]T) []T {
	var out []T
	for _, n := range slices.Sorted(maps.Keys(items)) {
		out = append(out, proto.CloneOf(items[n]))
	}
	return out
}

// GetAlertPolicy returns a policy.
func (s *Service) GetAlertPolicy(_ context.Context, req *monitoringpb.GetAlertPolicyRequest) (*monitoringpb.AlertPolicy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return found(s.lookupPolicy(req.GetName()))
}

// ListAlertPolicies lists a project's policies by name, in pages.
func (s *Service) ListAlertPolicies(_ context.Context, req *monitoringpb.ListAlertPoliciesRequest) (*monitoringpb.ListAlertPoliciesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	page, next, total, err := listIn(s, s.policies, req)
	if err != nil {
		return nil, err
	}
	return &monitoringpb.ListAlertPoliciesResponse{AlertPolicies: page, NextPageToken: next, TotalSize: total}, nil
}

// listRequest is a List request of alert policies or notification channels.
type listRequest interface {
	GetName() string
	GetFilter() string
	GetOrderBy() string
	GetPageSize() int32
	GetPageToken() string
}

// listIn returns the page req asks for of the items (project → name → item) of the project
// req names ("projects/P"), as listPage does; the fake takes no filter or order_by.
func listIn[T proto.Message](s *Service, items map[string]map[string]T, req listRequest) ([]T, string, int32, error) {
	project, err := projectOf(req.GetName())
	if err != nil {
		return nil, "", 0, err
	}
	if req.GetFilter() != "" || req.GetOrderBy() != "" {
		return nil, "", 0, invalid("fakemonitoring: filter and order_by are not supported")
	}
	return listPage(s, items[project], req.GetPageSize(), req.GetPageToken())
}

// listPage returns a page of copies of items, by name, the next page's token and how many
// items there are in all.
func listPage[T proto.Message](s *Service, items map[string]T, size int32, token string) ([]T, string, int32, error) {
	names := slices.Sorted(maps.Keys(items))
	page, next, err := s.page(names, size, token)
	if err != nil {
		return nil, "", 0, err
	}
	var out []T
	for _, n := range page {
		out = append(out, proto.CloneOf(items[n]))
	}
	return out, next, int32(len(names)), nil
}

// page cuts a sorted list of names into a page; tokens hold the last name returned.
func (s *Service) page(names []string, size int32, token string) ([]string, string, error) {
	n := int(size)
	if n <= 0 || n > s.cfg.pageSize {
		n = s.cfg.pageSize
	}
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", invalid("invalid page token %q", token)
		}
		start, _ = slices.BinarySearch(names, string(b))
		if start < len(names) && names[start] == string(b) {
			start++
		}
	}
	end := min(start+n, len(names))
	next := ""
	if end < len(names) {
		next = base64.RawURLEncoding.EncodeToString([]byte(names[end-1]))
	}
	return names[start:end], next, nil
}

// UpdateAlertPolicy replaces a policy, or the fields named in update_mask.
func (s *Service) UpdateAlertPolicy(_ context.Context, req *monitoringpb.UpdateAlertPolicyRequest) (*monitoringpb.AlertPolicy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := req.GetAlertPolicy()
	if in == nil {
		return nil, invalid("alert_policy is required")
	}
	old, project, err := s.lookupPolicy(in.GetName())
	if err != nil {
		return nil, err
	}
	var updated *monitoringpb.AlertPolicy
	if paths := req.GetUpdateMask().GetPaths(); len(paths) > 0 {
		updated = proto.CloneOf(old)
		src, dst := in.ProtoReflect(), updated.ProtoReflect()
		for _, path := range paths {
			fd := src.Descriptor().Fields().ByName(protoreflect.Name(path))
			if fd == nil || strings.Contains(path, ".") {
				return nil, invalid("update_mask: unknown or nested field %q", path)
			}
			if src.Has(fd) {
				dst.Set(fd, src.Get(fd))
			} else {
				dst.Clear(fd)
			}
		}
		updated = proto.CloneOf(updated)
	} else {
		updated = proto.CloneOf(in)
		updated.CreationRecord = old.CreationRecord
		if updated.Enabled == nil {
			updated.Enabled = wrapperspb.Bool(true)
		}
	}
	if err := s.validatePolicy(project, updated); err != nil {
		return nil, err
	}
	s.nameConditions(updated.Name, updated)
	updated.MutationRecord = &monitoringpb.MutationRecord{MutateTime: timestamppb.New(s.cfg.now()), MutatedBy: "fakemonitoring"}
	s.policies[project][updated.Name] = updated
	return proto.CloneOf(updated), nil
}

// DeleteAlertPolicy deletes a policy.
func (s *Service) DeleteAlertPolicy(_ context.Context, req *monitoringpb.DeleteAlertPolicyRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return remove(s.policies, s.lookupPolicy, req.GetName())
}

// AlertPolicies returns a copy of a project's policies, by name.
func (s *Service) AlertPolicies(project string) []*monitoringpb.AlertPolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copies(s.policies[project])
}

var channelTypes = map[string]string{
	"email":             "email_address",
	"sms":               "number",
	"slack":             "channel_name",
	"pagerduty":         "service_key",
	"webhook_tokenauth": "url",
	"webhook_basicauth": "url",
	"pubsub":            "topic",
}

// CreateNotificationChannel creates a channel of a known type with its required label.
func (s *Service) CreateNotificationChannel(_ context.Context, req *monitoringpb.CreateNotificationChannelRequest) (*monitoringpb.NotificationChannel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	project, err := projectOf(req.GetName())
	if err != nil {
		return nil, err
	}
	c := proto.CloneOf(req.GetNotificationChannel())
	if c == nil {
		return nil, invalid("notification_channel is required")
	}
	need, ok := channelTypes[c.GetType()]
	if !ok {
		return nil, invalid("notification_channel.type %q is not a known channel type", c.GetType())
	}
	if c.GetLabels()[need] == "" {
		return nil, invalid("notification_channel.labels: %s requires label %q", c.GetType(), need)
	}
	c.Name = fmt.Sprintf("projects/%s/notificationChannels/%s", project, s.nextID())
	if c.Enabled == nil {
		c.Enabled = wrapperspb.Bool(true)
	}
	store(s.channels, project, c.Name, c)
	return proto.CloneOf(c), nil
}

func (s *Service) lookupChannel(name string) (*monitoringpb.NotificationChannel, string, error) {
	return lookup(s.channels, channelNameRe, name, "projects/P/notificationChannels/ID", "notification channel")
}

// GetNotificationChannel returns a channel.
func (s *Service) GetNotificationChannel(_ context.Context, req *monitoringpb.GetNotificationChannelRequest) (*monitoringpb.NotificationChannel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return found(s.lookupChannel(req.GetName()))
}

// ListNotificationChannels lists a project's channels, in pages.
func (s *Service) ListNotificationChannels(_ context.Context, req *monitoringpb.ListNotificationChannelsRequest) (*monitoringpb.ListNotificationChannelsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	page, next, total, err := listIn(s, s.channels, req)
	if err != nil {
		return nil, err
	}
	return &monitoringpb.ListNotificationChannelsResponse{NotificationChannels: page, NextPageToken: next, TotalSize: total}, nil
}

// DeleteNotificationChannel deletes a channel; one that policies use needs force.
func (s *Service) DeleteNotificationChannel(_ context.Context, req *monitoringpb.DeleteNotificationChannelRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, project, err := s.lookupChannel(req.GetName())
	if err != nil {
		return nil, err
	}
	if !req.GetForce() {
		for _, p := range s.policies[project] {
			if slices.Contains(p.GetNotificationChannels(), req.GetName()) {
				return nil, status.Errorf(codes.FailedPrecondition, "notification channel %s is used by alert policy %s; delete with force", req.GetName(), p.GetName())
			}
		}
	}
	delete(s.channels[project], req.GetName())
	return &emptypb.Empty{}, nil
}

// AddNotificationChannel creates an email channel (a test helper) and returns its name.
func (s *Service) AddNotificationChannel(project, email string) string {
	c, err := s.CreateNotificationChannel(context.Background(), &monitoringpb.CreateNotificationChannelRequest{
		Name:                "projects/" + project,
		NotificationChannel: &monitoringpb.NotificationChannel{Type: "email", DisplayName: email, Labels: map[string]string{"email_address": email}},
	})
	if err != nil {
		panic(err)
	}
	return c.GetName()
}
