package fleet

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Off is the value that switches an alert signal off.
const Off = "off"

// Alert defaults: what a fleet file without `alerts:` gets.
const (
	DefaultAlertFor             = 5 * time.Minute
	DefaultAlertSystemLag       = 10 * time.Minute
	DefaultAlertDataFreshness   = 30 * time.Minute
	DefaultAlertBacklog         = 30 * time.Minute
	DefaultAlertClosedMargin    = 30 * time.Minute
	DefaultAlertJobMissing      = 10 * time.Minute
	DefaultAlertDeadLettersRate = 100.0 // per minute
	DefaultAlertDrift           = 30 * time.Minute
	// DefaultBucketWidth and DefaultSkewTolerance are the pipeline's defaults, used when
	// the fleet file leaves bucket_width or skew_tolerance unset.
	DefaultBucketWidth   = time.Hour
	DefaultSkewTolerance = 30 * time.Minute
)

// AlertSettings are the keys of an `alerts:` block as written: in `defaults:` or in an
// event type. Empty strings and a nil Channels mean "not set here"; "off" switches a
// signal off.
type AlertSettings struct {
	// Project is where the alert policies, the dashboard and the custom metrics live
	// (defaults only).
	Project string
	// Channels are notification channel names, projects/P/notificationChannels/ID.
	Channels             []string
	For                  string
	SystemLag            string
	DataFreshness        string
	Backlog              string
	ClosedHourMargin     string
	DeadLettersPerMinute string
	JobMissing           string
	// Drift is how long jobs may run off the pinned version (defaults only).
	Drift string
}

// Alerts is the effective alert configuration of one event type. A zero duration or
// rate means the signal is off.
type Alerts struct {
	Channels             []string      `json:"notification_channels"`
	For                  time.Duration `json:"for"`
	SystemLag            time.Duration `json:"system_lag"`
	DataFreshness        time.Duration `json:"data_freshness"`
	Backlog              time.Duration `json:"backlog"`
	ClosedHourMargin     time.Duration `json:"closed_hour_margin"`
	ClosedHourOff        bool          `json:"closed_hour_off,omitempty"`
	DeadLettersPerMinute float64       `json:"dead_letters_per_minute"`
	JobMissing           time.Duration `json:"job_missing"`
}

var (
	alertKeys         = []string{"project", "notification_channels", "for", "system_lag", "data_freshness", "backlog", "closed_hour_margin", "dead_letters_per_minute", "job_missing", "drift"}
	alertDefaultsOnly = []string{"project", "drift"}
	channelRe         = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/[0-9A-Za-z_-]+$`)
)

// alerts parses an `alerts:` mapping; defaults says whether it is the defaults' block.
func (p *parser) alerts(n *yaml.Node, field string, defaults bool) AlertSettings {
	var a AlertSettings
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, field, "expected a mapping of alert settings, got %s", kindName(n))
		return a
	}
	fields := p.mapping(n, field, alertKeys)
	sub := func(k string) string { return field + "." + k }
	for k, v := range fields {
		if !defaults && slices.Contains(alertDefaultsOnly, k) {
			p.add(v.Line, sub(k), "only allowed in defaults.alerts: it applies to the whole fleet")
			continue
		}
		switch k {
		case "project":
			a.Project = p.project(v, sub(k))
		case "notification_channels":
			a.Channels = p.channels(v, sub(k))
		case "for":
			a.For = p.alertDuration(v, sub(k), 0, false)
		case "system_lag", "data_freshness", "backlog":
			d := p.alertDuration(v, sub(k), time.Minute, true)
			switch k {
			case "system_lag":
				a.SystemLag = d
			case "data_freshness":
				a.DataFreshness = d
			default:
				a.Backlog = d
			}
		case "closed_hour_margin":
			a.ClosedHourMargin = p.alertDuration(v, sub(k), 0, true)
		case "job_missing":
			a.JobMissing = p.alertDuration(v, sub(k), 2*time.Minute, true)
		case "drift":
			a.Drift = p.alertDuration(v, sub(k), 0, true)
		case "dead_letters_per_minute":
			s := p.str(v, sub(k))
			if s == "" || s == Off {
				a.DeadLettersPerMinute = s
				break
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f <= 0 {
				p.add(v.Line, sub(k), "%q: want a positive number of dead letters per minute, or off", s)
				break
			}
			a.DeadLettersPerMinute = s
		}
	}
	return a
}

// alertDuration checks a duration that Cloud Monitoring takes in whole minutes (a
// condition's duration, an alignment period); min is the least allowed.
func (p *parser) alertDuration(n *yaml.Node, field string, min time.Duration, offOK bool) string {
	s := p.str(n, field)
	if s == "" {
		return ""
	}
	if s == Off {
		if !offOK {
			p.add(n.Line, field, "cannot be off")
			return ""
		}
		return s
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.add(n.Line, field, "%q is not a duration such as 10m or 1h%s", s, map[bool]string{true: ", or off"}[offOK])
		return ""
	case d < min || d < 0:
		p.add(n.Line, field, "%q must be at least %s", s, fmtDuration(min))
		return ""
	case d%time.Minute != 0:
		p.add(n.Line, field, "%q must be whole minutes (Cloud Monitoring counts condition durations in minutes)", s)
		return ""
	case d > 24*time.Hour:
		p.add(n.Line, field, "%q is longer than 24h", s)
		return ""
	}
	return s
}

func (p *parser) channels(n *yaml.Node, field string) []string {
	out := p.distinct(n, field, channelRe, "projects/P/notificationChannels/ID", "projects/PROJECT/notificationChannels/ID", "channel")
	if len(out) > 16 {
		p.add(n.Line, field, "%d channels; a policy takes at most 16", len(out))
	}
	return out
}

func fmtDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	if s == "" {
		return "0s"
	}
	return s
}

func mergeAlerts(d, o AlertSettings) AlertSettings {
	pick := func(a, b string) string {
		if b != "" {
			return b
		}
		return a
	}
	a := AlertSettings{
		Project:              d.Project,
		Channels:             d.Channels,
		For:                  pick(d.For, o.For),
		SystemLag:            pick(d.SystemLag, o.SystemLag),
		DataFreshness:        pick(d.DataFreshness, o.DataFreshness),
		Backlog:              pick(d.Backlog, o.Backlog),
		ClosedHourMargin:     pick(d.ClosedHourMargin, o.ClosedHourMargin),
		DeadLettersPerMinute: pick(d.DeadLettersPerMinute, o.DeadLettersPerMinute),
		JobMissing:           pick(d.JobMissing, o.JobMissing),
		Drift:                d.Drift,
	}
	if o.Channels != nil {
		a.Channels = o.Channels
	}
	return a
}

// effective turns validated settings into values, applying the defaults.
func (a AlertSettings) effective() Alerts {
	dur := func(s string, def time.Duration) time.Duration {
		switch s {
		case "":
			return def
		case Off:
			return 0
		}
		d, _ := time.ParseDuration(s)
		return d
	}
	e := Alerts{
		Channels:         slices.Clone(a.Channels),
		For:              dur(a.For, DefaultAlertFor),
		SystemLag:        dur(a.SystemLag, DefaultAlertSystemLag),
		DataFreshness:    dur(a.DataFreshness, DefaultAlertDataFreshness),
		Backlog:          dur(a.Backlog, DefaultAlertBacklog),
		ClosedHourMargin: dur(a.ClosedHourMargin, DefaultAlertClosedMargin),
		ClosedHourOff:    a.ClosedHourMargin == Off,
		JobMissing:       dur(a.JobMissing, DefaultAlertJobMissing),
	}
	if e.Channels == nil {
		e.Channels = []string{}
	}
	switch a.DeadLettersPerMinute {
	case "":
		e.DeadLettersPerMinute = DefaultAlertDeadLettersRate
	case Off:
	default:
		e.DeadLettersPerMinute, _ = strconv.ParseFloat(a.DeadLettersPerMinute, 64)
	}
	return e
}

// AlertsProject is the project the fleet's alert policies, dashboard and custom metrics
// live in: defaults.alerts.project, else defaults.project; "" when neither is set.
func (f *Fleet) AlertsProject() string {
	if f.Defaults.Alerts.Project != "" {
		return f.Defaults.Alerts.Project
	}
	return f.Defaults.Project
}

// DriftAfter is how long jobs may run off the pinned version before the drift alert
// fires; 0 when the drift alert is off.
func (f *Fleet) DriftAfter() time.Duration {
	switch s := f.Defaults.Alerts.Drift; s {
	case "":
		return DefaultAlertDrift
	case Off:
		return 0
	default:
		d, _ := time.ParseDuration(s)
		return d
	}
}

// BucketWidth returns a job's bucket width (the pipeline's default when unset).
func (j Job) BucketWidth() time.Duration {
	if d, err := time.ParseDuration(j.Parameters[ParamBucketWidth]); err == nil {
		return d
	}
	return DefaultBucketWidth
}

// SkewTolerance returns a job's skew tolerance (the pipeline's default when unset).
func (j Job) SkewTolerance() time.Duration {
	if d, err := time.ParseDuration(j.Parameters[ParamSkewTolerance]); err == nil {
		return d
	}
	return DefaultSkewTolerance
}
