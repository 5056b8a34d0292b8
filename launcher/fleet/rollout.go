package fleet

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Labels a rollout puts on the jobs it launches, so that an interrupted rollout can be
// continued or rolled back from what the jobs say, without a local state file.
const (
	// LabelTemplateVersion holds the job's version, encoded reversibly
	// ([EncodeVersionLabel]): pipeline-version is label-safe and cannot be turned back
	// into the template path a rollback must launch.
	LabelTemplateVersion = "template-version"
	// LabelRolloutID is the id of the rollout that launched the job.
	LabelRolloutID = "rollout-id"
	// LabelPreviousVersion is the template-version of the job the rollout replaced: what
	// a rollback goes back to.
	LabelPreviousVersion = "previous-version"
	// LabelRolledBackFrom is set on a job a rollback launched: the label-safe version it
	// was rolled back from.
	LabelRolledBackFrom = "rolled-back-from"
)

// DefaultSoak is how long a wave is watched when the rollout does not say.
const DefaultSoak = 10 * time.Minute

// Rollout is the `rollout:` block: how deploy upgrades the fleet in waves.
type Rollout struct {
	// Canaries are event types upgraded first, in this order; or CanaryPercent of the
	// fleet's event types (rounded up), in file order.
	Canaries      []string
	CanaryPercent float64
	// Waves are the sizes of the waves after the canaries; the last size repeats until
	// every event type is done. Empty means one wave with the rest.
	Waves []WaveSize
	// Soak is how long the upgraded jobs are watched after each wave.
	Soak time.Duration
	// Gate overrides the alert thresholds the health gate judges with (unset keys use
	// the event type's alerts settings).
	Gate AlertSettings
	Line int
}

// WaveSize is a number of event types or a percentage of the fleet's.
type WaveSize struct {
	Count   int     `json:"count,omitempty"`
	Percent float64 `json:"percent,omitempty"`
}

func (w WaveSize) String() string {
	if w.Percent > 0 {
		return strconv.FormatFloat(w.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(w.Count)
}

// Of returns the size for a fleet of n event types (at least 1).
func (w WaveSize) Of(n int) int {
	if w.Percent > 0 {
		return max(1, int(math.Ceil(w.Percent*float64(n)/100)))
	}
	return max(1, w.Count)
}

var (
	rolloutKeys = []string{"canaries", "waves", "soak", "gate"}
	gateKeys    = []string{"system_lag", "data_freshness", "closed_hour_margin", "dead_letters_per_minute", "job_missing"}
)

func (p *parser) rollout(n *yaml.Node, f *Fleet) *Rollout {
	r := &Rollout{Soak: DefaultSoak, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "rollout", "expected a mapping with canaries, waves, soak, gate; got %s", kindName(n))
		return r
	}
	fields := p.mapping(n, "rollout", rolloutKeys)
	if v, ok := fields["canaries"]; ok {
		switch v.Kind {
		case yaml.SequenceNode:
			seen := map[string]bool{}
			for i, c := range v.Content {
				field := fmt.Sprintf("rollout.canaries[%d]", i)
				name := p.str(c, field)
				switch {
				case name == "":
				case seen[name]:
					p.add(c.Line, field, "duplicate canary %q", name)
				case !slices.ContainsFunc(f.EventTypes, func(et EventType) bool { return et.Name == name }):
					p.add(c.Line, field, "%q is not an event type of this file", name)
				default:
					seen[name] = true
					r.Canaries = append(r.Canaries, name)
				}
			}
		case yaml.ScalarNode:
			pct, ok := percent(v.Value)
			if !ok {
				p.add(v.Line, "rollout.canaries", "%q: want a list of event types or a percentage such as 2%%", v.Value)
				break
			}
			r.CanaryPercent = pct
		default:
			p.add(v.Line, "rollout.canaries", "want a list of event types or a percentage such as 2%%, got %s", kindName(v))
		}
	}
	if v, ok := fields["waves"]; ok {
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			p.add(v.Line, "rollout.waves", "want a non-empty list of wave sizes such as [10, 25%%, 100%%]")
		} else {
			for i, w := range v.Content {
				field := fmt.Sprintf("rollout.waves[%d]", i)
				if w.Kind != yaml.ScalarNode {
					p.add(w.Line, field, "want a number of event types or a percentage, got %s", kindName(w))
					continue
				}
				if pct, ok := percent(w.Value); ok {
					r.Waves = append(r.Waves, WaveSize{Percent: pct})
					continue
				}
				c, err := strconv.Atoi(w.Value)
				if err != nil || c < 1 {
					p.add(w.Line, field, "%q: want a positive number of event types or a percentage such as 25%%", w.Value)
					continue
				}
				r.Waves = append(r.Waves, WaveSize{Count: c})
			}
		}
	}
	if v, ok := fields["soak"]; ok {
		if s := p.duration(v, "rollout.soak", true); s != "" {
			r.Soak, _ = time.ParseDuration(s)
		}
	}
	if v, ok := fields["gate"]; ok {
		if v.Kind != yaml.MappingNode {
			p.add(v.Line, "rollout.gate", "expected a mapping of health gate thresholds, got %s", kindName(v))
		} else {
			gf := p.mapping(v, "rollout.gate", gateKeys)
			// Same keys and rules as an event type's alerts block.
			g := &yaml.Node{Kind: yaml.MappingNode, Line: v.Line}
			for _, k := range gateKeys {
				if n, ok := gf[k]; ok {
					g.Content = append(g.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k, Line: n.Line}, n)
				}
			}
			r.Gate = p.alerts(g, "rollout.gate", false)
		}
	}
	return r
}

func percent(s string) (float64, bool) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f > 100 {
		return 0, false
	}
	return f, true
}

// GateAlerts returns the thresholds the rollout's health gate judges a job with: the
// job's alert settings, overridden by `rollout.gate`.
func (f *Fleet) GateAlerts(j Job) Alerts {
	if f.Rollout == nil {
		return j.Alerts
	}
	g := f.Rollout.Gate
	a := j.Alerts
	o := AlertSettings{SystemLag: g.SystemLag, DataFreshness: g.DataFreshness, ClosedHourMargin: g.ClosedHourMargin,
		DeadLettersPerMinute: g.DeadLettersPerMinute, JobMissing: g.JobMissing}.effective()
	if g.SystemLag != "" {
		a.SystemLag = o.SystemLag
	}
	if g.DataFreshness != "" {
		a.DataFreshness = o.DataFreshness
	}
	if g.ClosedHourMargin != "" {
		a.ClosedHourMargin, a.ClosedHourOff = o.ClosedHourMargin, o.ClosedHourOff
	}
	if g.DeadLettersPerMinute != "" {
		a.DeadLettersPerMinute = o.DeadLettersPerMinute
	}
	if g.JobMissing != "" {
		a.JobMissing = o.JobMissing
	}
	return a
}

// Order returns the fleet's event types in rollout order: the canaries first, then the
// others in file order; and how many of them are canaries.
func (f *Fleet) Order() (names []string, canaries int) {
	var r Rollout
	if f.Rollout != nil {
		r = *f.Rollout
	}
	all := make([]string, len(f.EventTypes))
	for i, et := range f.EventTypes {
		all[i] = et.Name
	}
	var first []string
	switch {
	case len(r.Canaries) > 0:
		first = slices.Clone(r.Canaries)
	case r.CanaryPercent > 0:
		first = slices.Clone(all[:WaveSize{Percent: r.CanaryPercent}.Of(len(all))])
	}
	names = append(names, first...)
	for _, n := range all {
		if !slices.Contains(first, n) {
			names = append(names, n)
		}
	}
	return names, len(first)
}

// Waves splits the fleet's event types, in rollout order, into waves: the canaries, then
// waves of the rollout's sizes. The split depends on the file only, so a rollout that is
// resumed finds the same waves.
func (f *Fleet) Waves() [][]string {
	names, canaries := f.Order()
	var sizes []WaveSize
	if f.Rollout != nil {
		sizes = f.Rollout.Waves
	}
	var waves [][]string
	if canaries > 0 {
		waves = append(waves, names[:canaries])
	}
	rest := names[canaries:]
	for i := 0; len(rest) > 0; i++ {
		n := len(rest)
		if len(sizes) > 0 {
			n = min(len(rest), sizes[min(i, len(sizes)-1)].Of(len(names)))
		}
		waves = append(waves, rest[:n])
		rest = rest[n:]
	}
	return waves
}

// EncodeVersionLabel encodes a version as a label value that [DecodeVersionLabel] turns
// back into the version: [a-z0-9-] stay, '.' becomes '_', any other byte "__" and two hex
// digits. ok is false when the result would not fit a label (63 characters) or would not
// decode to the same version.
func EncodeVersionLabel(v string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			b.WriteByte(c)
		case c == '.':
			b.WriteByte('_')
		default:
			fmt.Fprintf(&b, "__%02x", c)
		}
	}
	s := b.String()
	if len(s) > 63 || DecodeVersionLabel(s) != v {
		return "", false
	}
	return s, true
}

// DecodeVersionLabel reverses [EncodeVersionLabel].
func DecodeVersionLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 < len(s) && s[i+1] == '_' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte('.')
	}
	return b.String()
}
