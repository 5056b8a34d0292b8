package fakemonitoring

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// The Cloud Monitoring filter language, as far as time series selection uses it
// (https://cloud.google.com/monitoring/api/v3/filters): comparisons of selectors
// (metric.type, resource.type, project, metric.label.K, resource.label.K,
// metadata.user_labels.K, metadata.system_labels.K) with strings, numbers and the
// functions starts_with, ends_with, has_substring, one_of and monitoring.regex.full_match,
// combined with AND (or juxtaposition), OR, NOT and parentheses.

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokString
	tokNumber
	tokOp    // = != : < > <= >=
	tokPunct // ( ) . ,
)

type token struct {
	kind tokenKind
	text string
	pos  int
}

func tokenize(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '"' || c == '\'':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && rune(s[j]) != c; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string starting at position %d", i)
			}
			out = append(out, token{tokString, b.String(), i})
			i = j + 1
		case c == '(' || c == ')' || c == '.' || c == ',':
			out = append(out, token{tokPunct, string(c), i})
			i++
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, token{tokOp, s[i : i+2], i})
				i += 2
			} else if c == '!' {
				return nil, fmt.Errorf("unexpected '!' at position %d", i)
			} else {
				out = append(out, token{tokOp, string(c), i})
				i++
			}
		case c == '=' || c == ':':
			out = append(out, token{tokOp, string(c), i})
			i++
		case c == '-' || unicode.IsDigit(c):
			j := i + 1
			for j < len(s) && (unicode.IsDigit(rune(s[j])) || s[j] == '.' || s[j] == 'e' || s[j] == 'E') {
				j++
			}
			out = append(out, token{tokNumber, s[i:j], i})
			i = j
		case c == '_' || unicode.IsLetter(c):
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '-' || s[j] == '/' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			out = append(out, token{tokIdent, s[i:j], i})
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q at position %d", c, i)
		}
	}
	return append(out, token{tokEOF, "", len(s)}), nil
}

// node is a parsed filter.
type node struct {
	op       string // "and", "or", "not", "cmp"
	children []*node
	// cmp
	selector string // canonical: metric.type, resource.type, project, metric.label.K, resource.label.K, metadata.user_labels.K, metadata.system_labels.K
	cmpOp    string
	fn       string   // "", starts_with, ends_with, has_substring, one_of, regex
	args     []string // the value, or the function's arguments
	re       *regexp.Regexp
}

type filterParser struct {
	toks []token
	i    int
}

func (p *filterParser) peek() token { return p.toks[p.i] }
func (p *filterParser) next() token { t := p.toks[p.i]; p.i++; return t }

func parseFilter(s string) (*node, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("filter is empty")
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("unexpected %q at position %d", t.text, t.pos)
	}
	return n, nil
}

// or is and-terms joined by OR.
func (p *filterParser) or() (*node, error) {
	return p.chain("or", p.and, func() bool {
		if t := p.peek(); t.kind == tokIdent && t.text == "OR" {
			p.next()
			return true
		}
		return false
	})
}

// and is terms joined by AND or juxtaposed, up to the end, a ')' or an OR.
func (p *filterParser) and() (*node, error) {
	return p.chain("and", p.unary, func() bool {
		t := p.peek()
		if t.kind == tokEOF || (t.kind == tokPunct && t.text == ")") || (t.kind == tokIdent && t.text == "OR") {
			return false
		}
		if t.kind == tokIdent && t.text == "AND" {
			p.next()
		}
		return true
	})
}

// chain parses operands while more, which consumes the operator between two of them,
// reports that another follows; into a node of op, or the operand itself when there is one.
func (p *filterParser) chain(op string, operand func() (*node, error), more func() bool) (*node, error) {
	n := &node{op: op}
	for {
		c, err := operand()
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, c)
		if !more() {
			break
		}
	}
	if len(n.children) == 1 {
		return n.children[0], nil
	}
	return n, nil
}

func (p *filterParser) unary() (*node, error) {
	t := p.peek()
	switch {
	case t.kind == tokIdent && t.text == "NOT":
		p.next()
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: "not", children: []*node{c}}, nil
	case t.kind == tokPunct && t.text == "(":
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokPunct || c.text != ")" {
			return nil, fmt.Errorf("expected ')' at position %d, got %q", c.pos, c.text)
		}
		return n, nil
	case t.kind == tokIdent:
		return p.comparison()
	case t.kind == tokEOF:
		return nil, fmt.Errorf("unexpected end of filter")
	}
	return nil, fmt.Errorf("unexpected %q at position %d", t.text, t.pos)
}

func (p *filterParser) comparison() (*node, error) {
	start := p.peek().pos
	var parts []string
	for {
		t := p.next()
		if t.kind != tokIdent && t.kind != tokString {
			return nil, fmt.Errorf("expected a field name at position %d, got %q", t.pos, t.text)
		}
		parts = append(parts, t.text)
		if n := p.peek(); n.kind == tokPunct && n.text == "." {
			p.next()
			continue
		}
		break
	}
	sel, err := canonicalSelector(parts)
	if err != nil {
		return nil, fmt.Errorf("position %d: %w", start, err)
	}
	op := p.next()
	if op.kind != tokOp {
		return nil, fmt.Errorf("expected a comparison after %s at position %d, got %q", strings.Join(parts, "."), op.pos, op.text)
	}
	n := &node{op: "cmp", selector: sel, cmpOp: op.text}
	v := p.next()
	switch v.kind {
	case tokString, tokNumber:
		n.args = []string{v.text}
	case tokIdent:
		name := v.text
		for p.peek().kind == tokPunct && p.peek().text == "." {
			p.next()
			part := p.next()
			if part.kind != tokIdent {
				return nil, fmt.Errorf("expected a name at position %d", part.pos)
			}
			name += "." + part.text
		}
		if p.peek().kind == tokPunct && p.peek().text == "(" {
			p.next()
			switch name {
			case "starts_with", "ends_with", "has_substring", "one_of":
				n.fn = name
			case "monitoring.regex.full_match":
				n.fn = "regex"
			default:
				return nil, fmt.Errorf("unknown function %s at position %d", name, v.pos)
			}
			for {
				a := p.next()
				if a.kind != tokString && a.kind != tokNumber {
					return nil, fmt.Errorf("expected a string argument of %s at position %d, got %q", name, a.pos, a.text)
				}
				n.args = append(n.args, a.text)
				c := p.next()
				if c.kind == tokPunct && c.text == ")" {
					break
				}
				if c.kind != tokPunct || c.text != "," {
					return nil, fmt.Errorf("expected ',' or ')' at position %d, got %q", c.pos, c.text)
				}
			}
			if n.fn != "one_of" && len(n.args) != 1 {
				return nil, fmt.Errorf("%s takes one argument, got %d", name, len(n.args))
			}
			if n.fn == "regex" {
				re, err := regexp.Compile("^(?:" + n.args[0] + ")$")
				if err != nil {
					return nil, fmt.Errorf("monitoring.regex.full_match: %v", err)
				}
				n.re = re
			}
			if op.text != "=" && op.text != "!=" {
				return nil, fmt.Errorf("%s must be compared with = or !=", name)
			}
		} else {
			n.args = []string{name}
		}
	default:
		return nil, fmt.Errorf("expected a value after %s %s at position %d", strings.Join(parts, "."), op.text, v.pos)
	}
	return n, nil
}

func canonicalSelector(parts []string) (string, error) {
	j := strings.Join(parts, ".")
	switch {
	case j == "metric.type" || j == "resource.type" || j == "project" || j == "metric.display_name":
		return j, nil
	case len(parts) == 3 && parts[0] == "metric" && (parts[1] == "label" || parts[1] == "labels"):
		return "metric.label." + parts[2], nil
	case len(parts) == 3 && parts[0] == "resource" && (parts[1] == "label" || parts[1] == "labels"):
		return "resource.label." + parts[2], nil
	case len(parts) == 3 && parts[0] == "metadata" && (parts[1] == "user_labels" || parts[1] == "system_labels"):
		return "metadata." + parts[1] + "." + parts[2], nil
	}
	return "", fmt.Errorf("unknown field %q (want metric.type, resource.type, project, metric.label.KEY, resource.label.KEY or metadata.user_labels.KEY)", j)
}

// seriesView is what a filter is evaluated against.
type seriesView struct {
	metricType     string
	metricLabels   map[string]string
	resourceType   string
	resourceLabels map[string]string
}

func (n *node) match(s seriesView) bool {
	switch n.op {
	case "and":
		for _, c := range n.children {
			if !c.match(s) {
				return false
			}
		}
		return true
	case "or":
		for _, c := range n.children {
			if c.match(s) {
				return true
			}
		}
		return false
	case "not":
		return !n.children[0].match(s)
	}
	var v string
	var present bool
	switch {
	case n.selector == "metric.type":
		v, present = s.metricType, true
	case n.selector == "resource.type":
		v, present = s.resourceType, true
	case n.selector == "project":
		v, present = s.resourceLabels["project_id"], true
	case strings.HasPrefix(n.selector, "metric.label."):
		v, present = s.metricLabels[strings.TrimPrefix(n.selector, "metric.label.")]
	case strings.HasPrefix(n.selector, "resource.label."):
		v, present = s.resourceLabels[strings.TrimPrefix(n.selector, "resource.label.")]
	}
	var ok bool
	switch n.fn {
	case "starts_with":
		ok = strings.HasPrefix(v, n.args[0])
	case "ends_with":
		ok = strings.HasSuffix(v, n.args[0])
	case "has_substring":
		ok = strings.Contains(v, n.args[0])
	case "one_of":
		ok = slices.Contains(n.args, v)
	case "regex":
		ok = n.re.MatchString(v)
	default:
		switch n.cmpOp {
		case "=", "!=":
			ok = v == n.args[0]
		case ":":
			ok = present && strings.Contains(v, n.args[0])
			return ok
		default:
			a, err1 := strconv.ParseFloat(v, 64)
			b, err2 := strconv.ParseFloat(n.args[0], 64)
			if err1 != nil || err2 != nil {
				return false
			}
			switch n.cmpOp {
			case "<":
				return a < b
			case ">":
				return a > b
			case "<=":
				return a <= b
			case ">=":
				return a >= b
			}
		}
	}
	if n.cmpOp == "!=" {
		return !ok
	}
	return ok
}

// walk calls fn for every comparison, with whether it sits under NOT or OR.
func (n *node) walk(fn func(c *node, plain bool)) { n.walkIn(fn, true) }

func (n *node) walkIn(fn func(*node, bool), plain bool) {
	switch n.op {
	case "cmp":
		fn(n, plain)
	case "and":
		for _, c := range n.children {
			c.walkIn(fn, plain)
		}
	default:
		for _, c := range n.children {
			c.walkIn(fn, false)
		}
	}
}
