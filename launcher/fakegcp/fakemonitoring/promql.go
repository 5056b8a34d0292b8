package fakemonitoring

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// PromQLName returns the name Cloud Monitoring's PromQL gives a metric type:
// dataflow.googleapis.com/job/user_counter is dataflow_googleapis_com:job_user_counter.
func PromQLName(metricType string) string {
	domain, path, ok := strings.Cut(metricType, "/")
	if !ok {
		return metricType
	}
	r := strings.NewReplacer(".", "_", "/", "_")
	return r.Replace(domain) + ":" + r.Replace(path)
}

var (
	promFuncs = []string{"abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
		"count_over_time", "delta", "deriv", "exp", "floor", "histogram_quantile", "idelta", "increase", "irate", "label_replace",
		"last_over_time", "max_over_time", "min_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc",
		"sum_over_time", "time", "timestamp", "vector", "quantile_over_time", "stddev_over_time"}
	promAggs     = []string{"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group"}
	promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
	promRangeRe  = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
)

// checkPromQL validates a PromQL query the way Cloud Monitoring does before accepting a
// condition: it parses (brackets, selectors, ranges, functions) and every metric it names
// must exist. It does not evaluate anything.
func (s *Service) checkPromQL(project, q string) error {
	if strings.TrimSpace(q) == "" {
		return fmt.Errorf("query is empty")
	}
	var stack []rune
	metrics := 0
	i := 0
	expectLabels := false // after by/without/on/ignoring: a label list follows
	for i < len(q) {
		c := rune(q[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(' || c == '[':
			if c == '[' {
				j := strings.IndexByte(q[i:], ']')
				if j < 0 {
					return fmt.Errorf("query %q: unclosed '[' at %d", q, i)
				}
				r := strings.TrimSpace(q[i+1 : i+j])
				if rng, _, _ := strings.Cut(r, ":"); !promRangeRe.MatchString(strings.TrimSpace(rng)) {
					return fmt.Errorf("query %q: bad range [%s]: want a duration such as 5m", q, r)
				}
				i += j + 1
				continue
			}
			if expectLabels {
				j := strings.IndexByte(q[i:], ')')
				if j < 0 {
					return fmt.Errorf("query %q: unclosed '(' at %d", q, i)
				}
				i += j + 1
				expectLabels = false
				continue
			}
			stack = append(stack, c)
			i++
		case c == ')':
			if len(stack) == 0 || stack[len(stack)-1] != '(' {
				return fmt.Errorf("query %q: unexpected ')' at %d", q, i)
			}
			stack = stack[:len(stack)-1]
			i++
		case c == '{':
			j, named, err := s.checkMatchers(project, q, i, "")
			if err != nil {
				return err
			}
			if named {
				metrics++ // {__name__="..."} selects a metric too
			}
			i = j
		case c == '"' || c == '\'':
			j := strings.IndexRune(q[i+1:], c)
			if j < 0 {
				return fmt.Errorf("query %q: unterminated string at %d", q, i)
			}
			i += j + 2
		case unicode.IsDigit(c) || c == '.':
			j := i
			for j < len(q) && (unicode.IsDigit(rune(q[j])) || q[j] == '.' || q[j] == 'e' || q[j] == 'E') {
				j++
			}
			i = j
		case strings.ContainsRune("+-*/%^=!<>,", c):
			i++
		case c == '_' || c == ':' || unicode.IsLetter(c):
			j := i
			for j < len(q) && (q[j] == '_' || q[j] == ':' || unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j]))) {
				j++
			}
			word := q[i:j]
			k := j
			for k < len(q) && unicode.IsSpace(rune(q[k])) {
				k++
			}
			next := byte(0)
			if k < len(q) {
				next = q[k]
			}
			switch {
			case slices.Contains(promKeywords, word):
				expectLabels = word == "by" || word == "without" || word == "on" || word == "ignoring" || word == "group_left" || word == "group_right"
				i = j
			case slices.Contains(promAggs, word) && (next == '(' || strings.HasPrefix(q[k:], "by") || strings.HasPrefix(q[k:], "without")):
				i = j
			case next == '(' && slices.Contains(promFuncs, word):
				i = j
			case next == '(':
				return fmt.Errorf("query %q: unknown function %q", q, word)
			default:
				// A metric selector.
				metrics++
				if _, err := s.promMetric(project, q, word); err != nil {
					return err
				}
				i = j
				if next == '{' {
					end, _, err := s.checkMatchers(project, q, k, word)
					if err != nil {
						return err
					}
					i = end
				}
			}
		default:
			return fmt.Errorf("query %q: unexpected character %q at %d", q, c, i)
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("query %q: unclosed '('", q)
	}
	if metrics == 0 {
		return fmt.Errorf("query %q selects no metric", q)
	}
	return nil
}

func (s *Service) promMetric(project, q, name string) (string, error) {
	for t := range builtins {
		if PromQLName(t) == name {
			return t, nil
		}
	}
	for _, p := range s.scope(project) {
		for t := range s.custom[p] {
			if PromQLName(t) == name {
				return t, nil
			}
		}
	}
	return "", fmt.Errorf("query %q: unknown metric %q", q, name)
}

var promMatcherRe = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$`)

// checkMatchers checks the label matchers starting at q[start] == '{' and returns the
// index after the closing brace, and whether the braces name a metric (__name__). metric
// is the selector's name ("" when written inside the braces as __name__).
func (s *Service) checkMatchers(project, q string, start int, metric string) (int, bool, error) {
	end := strings.IndexByte(q[start:], '}')
	if end < 0 {
		return 0, false, fmt.Errorf("query %q: unclosed '{' at %d", q, start)
	}
	body := q[start+1 : start+end]
	var labels []string
	if metric != "" {
		typ, err := s.promMetric(project, q, metric)
		if err != nil {
			return 0, false, err
		}
		d := s.descriptor(project, typ)
		for _, l := range d.Labels {
			labels = append(labels, l.Key)
		}
		for _, rt := range d.MonitoredResourceTypes {
			labels = append(labels, resourceLabels[rt]...)
		}
		labels = append(labels, "monitored_resource", "project_id", "location")
	}
	if strings.TrimSpace(body) == "" {
		return start + end + 1, false, nil
	}
	named := false
	for _, m := range strings.Split(body, ",") {
		if strings.TrimSpace(m) == "" {
			continue
		}
		g := promMatcherRe.FindStringSubmatch(m)
		if g == nil {
			return 0, false, fmt.Errorf("query %q: bad label matcher %q", q, strings.TrimSpace(m))
		}
		if g[2] == "=~" || g[2] == "!~" {
			if _, err := regexp.Compile(g[3]); err != nil {
				return 0, false, fmt.Errorf("query %q: bad regular expression %q: %v", q, g[3], err)
			}
		}
		if g[1] == "__name__" {
			if _, err := s.promMetric(project, q, g[3]); err != nil {
				return 0, false, err
			}
			named = true
			continue
		}
		if metric != "" && !slices.Contains(labels, g[1]) {
			return 0, false, fmt.Errorf("query %q: metric %s has no label %q", q, metric, g[1])
		}
	}
	return start + end + 1, named, nil
}
