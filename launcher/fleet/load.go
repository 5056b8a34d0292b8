package fleet

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
	"gopkg.in/yaml.v3"

	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/output"
)

// Problem is one thing wrong with a fleet file.
type Problem struct {
	File  string `json:"file"`
	Line  int    `json:"line"`
	Field string `json:"field"`
	Msg   string `json:"problem"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Field, p.Msg)
}

// ValidationError holds every problem found in a fleet file, in line order.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

var (
	nameRe         = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	subscriptionRe = regexp.MustCompile(`^projects/[^/\s]+/subscriptions/[^/\s]+$`)
	topicRe        = regexp.MustCompile(`^projects/[^/\s]+/topics/[^/\s]+$`)
	projectRe      = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	regionRe       = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+$`)
	labelKeyRe     = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	labelValueRe   = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	sourceRe       = regexp.MustCompile(`^(attribute|field):[A-Za-z_][A-Za-z0-9_.\-]*$`)
	serviceAcctRe  = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.gserviceaccount\.com$`)
	gsRe           = regexp.MustCompile(`^gs://`)
	networkRe      = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// subnetworkRe is a full URL (required for Shared VPC) or regions/R/subnetworks/S;
	// group 1 is the region.
	subnetworkRe = regexp.MustCompile(`^(?:https://www\.googleapis\.com/compute/v1/projects/[a-z][-a-z0-9.:]*[a-z0-9]/)?regions/([a-z]+-[a-z]+[0-9]+)/subnetworks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	zoneRe       = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+-[a-z]$`)
	// pubsubSchemaRe is a Pub/Sub schema, its newest revision or @REVISION, as the pipeline's
	// --schema takes it (internal/revisions).
	pubsubSchemaRe = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/schemas/[^/@\s]+(@[^/@\s]+)?$`)
	kmsKeyRe       = regexp.MustCompile(`^projects/[^/\s]+/locations/[^/\s]+/keyRings/[^/\s]+/cryptoKeys/[^/\s]+$`)
	experimentRe   = regexp.MustCompile(`^[A-Za-z0-9_.\-]+(=[^\s,]+)?$`)
)

// Keys allowed in each mapping.
var (
	topKeys       = []string{"fleet", "version", "template", "defaults", "event_types", "rollout"}
	settingKeys   = []string{"project", "region", "output", "layout", "notify_topic", "temp_location", "service_account", "machine_type", "max_workers", "network", "subnetwork", "ip_configuration", "staging_location", "launcher_machine_type", "worker_region", "worker_zone", "kms_key_name", "additional_experiments", "skew_tolerance", "max_future", "bucket_width", "bucket_time", "event_id", "shards", "early_panes", "labels", "max_active_jobs_per_project", "launches_per_minute", "alerts"}
	eventOnlyKeys = []string{"name", "subscription", "schema", "schema_revisions", "previous_schemas", "version"}
)

// Load reads and validates a fleet file. A file with problems returns a *ValidationError
// listing all of them.
func Load(path string) (*Fleet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read fleet file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1)) // Parse refuses what is over
	if err != nil {
		return nil, fmt.Errorf("read fleet file: %w", err)
	}
	return Parse(path, data)
}

// MaxFileBytes is the largest fleet file Parse reads: a fleet of thousands of event types
// fits in a fraction of it. (Nesting is bounded by yaml.v3: 10,000 levels.)
const MaxFileBytes = 4 << 20

// Parse validates a fleet file's content; path names the file in problems and schema
// paths are resolved relative to its directory.
func Parse(path string, data []byte) (*Fleet, error) {
	if len(data) > MaxFileBytes {
		return nil, &ValidationError{Problems: []Problem{{File: path, Line: 1, Field: "(file)",
			Msg: fmt.Sprintf("%d bytes, more than the %d a fleet file may have", len(data), MaxFileBytes)}}}
	}
	p := &parser{file: path, dir: filepath.Dir(path), schemas: map[string]schemaResult{}}
	f := p.parse(data)
	if len(p.problems) > 0 {
		sortProblems(p.problems)
		return nil, &ValidationError{Problems: p.problems}
	}
	return f, nil
}

type schemaResult struct {
	json string
	err  string
}

type parser struct {
	file     string
	dir      string
	problems []Problem
	schemas  map[string]schemaResult
}

func (p *parser) add(line int, field, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

func (p *parser) parse(data []byte) *Fleet {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 1
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		p.add(line, "(file)", "not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if len(doc.Content) == 0 {
		p.add(1, "(file)", "empty; expected a mapping with fleet, version, template, defaults, event_types")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "(file)", "expected a mapping, got %s", kindName(root))
		return nil
	}
	f := &Fleet{Path: p.file}
	fields := p.mapping(root, "", topKeys)
	if n, ok := p.required(fields, root, "", "fleet"); ok {
		f.Name = p.str(n, "fleet")
		switch {
		case f.Name != "" && !nameRe.MatchString(f.Name):
			p.add(n.Line, "fleet", "%q must match [a-z][a-z0-9-]*", f.Name)
		case reservedFleetName(f.Name):
			p.add(n.Line, "fleet", "%q is reserved: backfill jobs are named backfill-<fleet>-…, so no fleet may be named backfill or backfill-…", f.Name)
		}
	}
	if n, ok := p.required(fields, root, "", "version"); ok {
		f.Version = p.str(n, "version")
		p.checkVersion(n, "version", f.Version)
	}
	if n, ok := p.required(fields, root, "", "template"); ok {
		f.Template = p.str(n, "template")
		switch {
		case f.Template == "":
		case !strings.Contains(f.Template, "{version}"):
			p.add(n.Line, "template", "%q has no {version} placeholder; the template must follow the pinned version", f.Template)
		case !strings.HasPrefix(f.Template, "gs://"):
			p.add(n.Line, "template", "%q must be a gs:// path to a Flex Template spec", f.Template)
		}
	}
	if n, ok := fields["defaults"]; ok {
		f.Defaults = p.settings(n, "defaults", nil)
	}
	etNode, ok := fields["event_types"]
	if !ok {
		p.add(root.Line, "event_types", "required: at least one event type")
		return f
	}
	if etNode.Kind != yaml.SequenceNode {
		p.add(etNode.Line, "event_types", "expected a list, got %s", kindName(etNode))
		return f
	}
	if len(etNode.Content) == 0 {
		p.add(etNode.Line, "event_types", "empty: at least one event type")
	}
	seen := map[string]int{}
	for i, n := range etNode.Content {
		field := fmt.Sprintf("event_types[%d]", i)
		et := p.eventType(n, field)
		if et.Name != "" {
			if first, dup := seen[et.Name]; dup {
				p.add(n.Line, field+".name", "duplicate event type %q (first defined on line %d)", et.Name, first)
			} else {
				seen[et.Name] = n.Line
			}
		}
		f.EventTypes = append(f.EventTypes, et)
		p.checkEffective(f, et, field)
	}
	p.checkQuotaConsistency(f)
	if n, ok := fields["rollout"]; ok {
		f.Rollout = p.rollout(n, f)
	}
	return f
}

func (p *parser) eventType(n *yaml.Node, field string) EventType {
	et := EventType{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, field, "expected a mapping, got %s", kindName(n))
		return et
	}
	fields := p.mapping(n, field, append(append([]string{}, eventOnlyKeys...), settingKeys...))
	if v, ok := p.required(fields, n, field, "name"); ok {
		et.Name = p.str(v, field+".name")
		if et.Name != "" {
			switch {
			case !nameRe.MatchString(et.Name):
				p.add(v.Line, field+".name", "%q must match [a-z][a-z0-9-]*", et.Name)
			case strings.HasSuffix(et.Name, "-"):
				p.add(v.Line, field+".name", "%q must not end with '-' (Dataflow job names end with a letter or digit)", et.Name)
			case len(et.Name) > 63:
				p.add(v.Line, field+".name", "%q is longer than 63 characters (it is a label value)", et.Name)
			}
		}
	}
	if v, ok := p.required(fields, n, field, "subscription"); ok {
		et.Subscription = p.str(v, field+".subscription")
		et.SubscriptionLine = v.Line
		if et.Subscription != "" && !subscriptionRe.MatchString(et.Subscription) {
			p.add(v.Line, field+".subscription", "%q is not projects/PROJECT/subscriptions/NAME", et.Subscription)
		}
	}
	if v, ok := p.required(fields, n, field, "schema"); ok {
		et.Schema = p.str(v, field+".schema")
		et.SchemaLine = v.Line
		switch {
		case et.Schema == "":
		case IsPubSubSchema(et.Schema):
			// Read by the job at start; validate --schemas checks its revisions.
			if !pubsubSchemaRe.MatchString(et.Schema) {
				p.add(v.Line, field+".schema", "%q: want a schema file, projects/P/schemas/S or projects/P/schemas/S@REVISION", et.Schema)
			}
		default:
			et.SchemaJSON = p.schema(v, field+".schema", et.Schema)
		}
	}
	p.revisions(fields, field, &et)
	if v, ok := fields["version"]; ok {
		et.Version = p.str(v, field+".version")
		p.checkVersion(v, field+".version", et.Version)
	}
	// The remaining keys are the overridable settings.
	delete(fields, "name")
	delete(fields, "subscription")
	delete(fields, "schema")
	delete(fields, "schema_revisions")
	delete(fields, "previous_schemas")
	delete(fields, "version")
	et.Settings = p.settingsFrom(fields, field)
	return et
}

// required returns the value of key in fields, the keys of parent at field ("" at the top);
// without one it adds the problem that key is required.
func (p *parser) required(fields map[string]*yaml.Node, parent *yaml.Node, field, key string) (*yaml.Node, bool) {
	v, ok := fields[key]
	if !ok {
		if field != "" {
			key = field + "." + key
		}
		p.add(parent.Line, key, "required")
	}
	return v, ok
}

func (p *parser) checkVersion(n *yaml.Node, field, v string) {
	if v == "" {
		return
	}
	if strings.ContainsAny(v, " /\t") {
		p.add(n.Line, field, "%q must not contain spaces or '/'", v)
	}
	if len(LabelSafe(v)) == 0 {
		p.add(n.Line, field, "%q is empty once made label-safe", v)
	}
	if len(v) > 63 {
		p.add(n.Line, field, "%q is longer than 63 characters", v)
	}
}

// revisions reads an event type's schema_revisions (a gs:// folder the job reads) and
// previous_schemas (schema files of revisions still accepted): the event type's schema must
// read each of those by Avro's resolution rules, or the problem names the field at fault.
func (p *parser) revisions(fields map[string]*yaml.Node, field string, et *EventType) {
	if v, ok := fields["schema_revisions"]; ok {
		et.SchemaRevisions = p.str(v, field+".schema_revisions")
		if et.SchemaRevisions != "" && !gsRe.MatchString(et.SchemaRevisions) {
			p.add(v.Line, field+".schema_revisions", "%q: want a gs:// folder of <revision_id>.avsc files, which the job reads at start", et.SchemaRevisions)
		}
	}
	v, ok := fields["previous_schemas"]
	if !ok {
		return
	}
	if v.Kind != yaml.SequenceNode {
		p.add(v.Line, field+".previous_schemas", "expected a list of schema files, got %s", kindName(v))
		return
	}
	if IsPubSubSchema(et.Schema) {
		p.add(v.Line, field+".previous_schemas", "not with a Pub/Sub schema: its revisions are the previous schemas (validate --schemas checks those the topic accepts)")
		return
	}
	for i, item := range v.Content {
		f := fmt.Sprintf("%s.previous_schemas[%d]", field, i)
		rel := p.str(item, f)
		if rel == "" {
			continue
		}
		et.PreviousSchemas = append(et.PreviousSchemas, rel)
		old := p.schema(item, f, rel)
		if old == "" || et.SchemaJSON == "" {
			continue
		}
		if err := codec.Compatible(et.SchemaJSON, old); err != nil {
			p.add(item.Line, f, "schema %s cannot read %s: %v", et.Schema, rel, err)
		}
	}
}

func (p *parser) schema(n *yaml.Node, field, rel string) string {
	path := rel
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.dir, rel)
	}
	r, ok := p.schemas[path]
	if !ok {
		r = readSchema(path)
		p.schemas[path] = r
	}
	if r.err != "" {
		p.add(n.Line, field, "%s", r.err)
	}
	return r.json
}

func readSchema(path string) schemaResult {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return schemaResult{err: fmt.Sprintf("schema file %s does not exist", path)}
		}
		return schemaResult{err: fmt.Sprintf("cannot read schema: %v", err)}
	}
	codec, err := goavro.NewCodec(string(data))
	if err != nil {
		return schemaResult{err: fmt.Sprintf("invalid Avro schema %s: %v", path, err)}
	}
	var top struct {
		Type any `json:"type"`
	}
	if err := json.Unmarshal(data, &top); err != nil || top.Type != "record" {
		return schemaResult{err: fmt.Sprintf("Avro schema %s must be a record, not %s", path, codec.Schema())}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return schemaResult{err: fmt.Sprintf("invalid Avro schema %s: %v", path, err)}
	}
	return schemaResult{json: buf.String()}
}

func (p *parser) settings(n *yaml.Node, field string, extra []string) Settings {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, field, "expected a mapping, got %s", kindName(n))
		return Settings{}
	}
	return p.settingsFrom(p.mapping(n, field, append(append([]string{}, extra...), settingKeys...)), field)
}

// settingsFrom reads the overridable settings from an already checked mapping.
func (p *parser) settingsFrom(fields map[string]*yaml.Node, field string) Settings {
	var s Settings
	sub := func(k string) string { return field + "." + k }
	for k, n := range fields {
		switch k {
		case "project":
			s.Project = p.project(n, sub(k))
		case "region":
			s.Region = p.matching(n, sub(k), regionRe, "is not a region such as europe-west1")
		case "output":
			s.Output = p.matching(n, sub(k), gsRe, "must be a gs:// path")
		case "temp_location":
			s.TempLocation = p.matching(n, sub(k), gsRe, "must be a gs:// path")
		case "service_account":
			s.ServiceAccount = p.matching(n, sub(k), serviceAcctRe, "is not a service account email")
		case "machine_type":
			s.MachineType = p.str(n, sub(k))
		case "launcher_machine_type":
			s.LauncherMachineType = p.str(n, sub(k))
		case "network":
			s.Network = p.matching(n, sub(k), networkRe, "is not a VPC network name such as prod-vpc")
		case "subnetwork":
			s.Subnetwork = p.matching(n, sub(k), subnetworkRe,
				"is not regions/REGION/subnetworks/NAME or https://www.googleapis.com/compute/v1/projects/HOST_PROJECT/regions/REGION/subnetworks/NAME (the full URL for Shared VPC)")
		case "ip_configuration":
			s.IPConfiguration = p.str(n, sub(k))
			if s.IPConfiguration != "" && s.IPConfiguration != "public" && s.IPConfiguration != "private" {
				p.add(n.Line, sub(k), "%q: want public or private", s.IPConfiguration)
			}
		case "staging_location":
			s.StagingLocation = p.matching(n, sub(k), gsRe, "must be a gs:// path")
		case "worker_region":
			s.WorkerRegion = p.matching(n, sub(k), regionRe, "is not a region such as europe-west1")
		case "worker_zone":
			s.WorkerZone = p.matching(n, sub(k), zoneRe, "is not a zone such as europe-west1-b")
		case "kms_key_name":
			s.KMSKeyName = p.matching(n, sub(k), kmsKeyRe, "is not projects/P/locations/L/keyRings/R/cryptoKeys/K")
		case "additional_experiments":
			s.AdditionalExperiments = p.experiments(n, sub(k))
		case "max_workers":
			s.MaxWorkers = p.positiveInt(n, sub(k), 1000)
		case "shards":
			s.Shards = p.positiveInt(n, sub(k), 1<<16)
		case "max_active_jobs_per_project":
			s.MaxActiveJobsPerProject = p.positiveInt(n, sub(k), 100000)
		case "launches_per_minute":
			s.LaunchesPerMinute = p.positiveInt(n, sub(k), 6000)
		case "notify_topic":
			s.NotifyTopic = p.matching(n, sub(k), topicRe, "is not projects/PROJECT/topics/NAME")
		case "layout":
			s.Layout = p.str(n, sub(k))
			if _, err := output.ParsePaths(s.Layout); err != nil {
				p.add(n.Line, sub(k), "%q: want %s or %s", s.Layout, output.DatePaths, output.HivePaths)
			}
		case "skew_tolerance":
			s.SkewTolerance = p.duration(n, sub(k), true)
		case "max_future":
			s.MaxFuture = p.duration(n, sub(k), true)
		case "early_panes":
			s.EarlyPanes = p.duration(n, sub(k), true)
		case "bucket_width":
			s.BucketWidth = p.duration(n, sub(k), false)
		case "bucket_time":
			s.BucketTime = p.str(n, sub(k))
			if s.BucketTime != "" && s.BucketTime != "publish_time" && !sourceRe.MatchString(s.BucketTime) {
				p.add(n.Line, sub(k), "%q: want publish_time, attribute:NAME or field:NAME", s.BucketTime)
			}
		case "event_id":
			s.EventID = p.str(n, sub(k))
			if s.EventID != "" && !sourceRe.MatchString(s.EventID) {
				p.add(n.Line, sub(k), "%q: want attribute:NAME or field:NAME", s.EventID)
			}
		case "labels":
			s.Labels = p.labels(n, sub(k))
		case "alerts":
			s.Alerts = p.alerts(n, sub(k), field == "defaults")
		}
	}
	return s
}

// matching reads a string that must match re; problem completes "%q ...".
func (p *parser) matching(n *yaml.Node, field string, re *regexp.Regexp, problem string) string {
	v := p.str(n, field)
	if v != "" && !re.MatchString(v) {
		p.add(n.Line, field, "%q %s", v, problem)
	}
	return v
}

// project reads a project id.
func (p *parser) project(n *yaml.Node, field string) string {
	return p.matching(n, field, projectRe, "is not a valid project id (6-30 of [a-z0-9-], starting with a letter)")
}

// experiments reads a list of Dataflow experiments (NAME or NAME=VALUE).
func (p *parser) experiments(n *yaml.Node, field string) []string {
	return p.distinct(n, field, experimentRe, "experiments", "an experiment such as enable_prime or name=value", "experiment")
}

// distinct reads a list of distinct strings that each match re: what the list holds
// (`experiments`), what each item must be, and what one is called in a duplicate's
// problem. Every bad item is a problem with its own line; the good ones are returned.
func (p *parser) distinct(n *yaml.Node, field string, re *regexp.Regexp, list, must, item string) []string {
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, field, "expected a list of %s, got %s", list, kindName(n))
		return nil
	}
	out := []string{}
	for i, e := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		v := p.str(e, f)
		switch {
		case v == "":
		case !re.MatchString(v):
			p.add(e.Line, f, "%q is not %s", v, must)
		case slices.Contains(out, v):
			p.add(e.Line, f, "duplicate %s %q", item, v)
		default:
			out = append(out, v)
		}
	}
	return out
}

func (p *parser) labels(n *yaml.Node, field string) map[string]string {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, field, "expected a mapping of label keys to values, got %s", kindName(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := field + "." + k.Value
		if _, dup := out[k.Value]; dup {
			p.add(k.Line, f, "duplicate key")
			continue
		}
		val := p.str(v, f)
		out[k.Value] = val
		switch {
		case slices.Contains(ReservedLabels, k.Value):
			p.add(k.Line, f, "label %q is set by the launcher itself", k.Value)
		case !labelKeyRe.MatchString(k.Value):
			p.add(k.Line, f, "label key must start with a lowercase letter and hold at most 63 of [a-z0-9_-]")
		case !labelValueRe.MatchString(val):
			p.add(v.Line, f, "label value %q must hold at most 63 of [a-z0-9_-]", val)
		}
	}
	if len(out) > 64-len(ReservedLabels) {
		p.add(n.Line, field, "%d labels; at most %d (GCP allows 64, the launcher sets %d)", len(out), 64-len(ReservedLabels), len(ReservedLabels))
	}
	return out
}

// mapping checks a mapping's keys (unknown, duplicate, not a scalar) and returns its values
// by key.
func (p *parser) mapping(n *yaml.Node, field string, allowed []string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	prefix := ""
	if field != "" {
		prefix = field + "."
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.add(k.Line, field, "keys must be strings")
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			p.add(k.Line, prefix+k.Value, "unknown key%s", suggest(k.Value, allowed))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			p.add(k.Line, prefix+k.Value, "duplicate key (first set on line %d)", prev.Line)
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode {
		p.add(n.Line, field, "expected a string, got %s", kindName(n))
		return ""
	}
	if n.Tag == "!!null" || n.Value == "" {
		p.add(n.Line, field, "empty")
		return ""
	}
	return n.Value
}

func (p *parser) positiveInt(n *yaml.Node, field string, max int) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.add(n.Line, field, "expected a whole number, got %q", n.Value)
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 1 || v > max {
		p.add(n.Line, field, "%s must be between 1 and %d", n.Value, max)
		return 0
	}
	return v
}

func (p *parser) duration(n *yaml.Node, field string, zeroOK bool) string {
	s := p.str(n, field)
	if s == "" {
		return ""
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.add(n.Line, field, "%q is not a duration such as 30m or 1h", s)
		return ""
	case d < 0 || (d == 0 && !zeroOK):
		p.add(n.Line, field, "%q must be positive", s)
		return ""
	}
	return s
}

// checkEffective reports required settings that neither the defaults nor the event type
// set.
func (p *parser) checkEffective(f *Fleet, et EventType, field string) {
	s := merge(f.Defaults, et.Settings)
	for _, r := range []struct{ key, val string }{
		{"project", s.Project},
		{"region", s.Region},
		{"output", s.Output},
		{"temp_location", s.TempLocation},
	} {
		if r.val == "" {
			p.add(et.Line, field+"."+r.key, "required: set it in defaults or in the event type")
		}
	}
	if s.WorkerRegion != "" && s.WorkerZone != "" {
		p.add(et.Line, field+".worker_zone", "worker_region %s and worker_zone %s are both set; Dataflow takes one of them", s.WorkerRegion, s.WorkerZone)
	}
	if m := subnetworkRe.FindStringSubmatch(s.Subnetwork); m != nil {
		workers := s.Region
		switch {
		case s.WorkerRegion != "":
			workers = s.WorkerRegion
		case s.WorkerZone != "":
			workers = s.WorkerZone[:strings.LastIndex(s.WorkerZone, "-")]
		}
		if workers != "" && m[1] != workers {
			p.add(et.Line, field+".subnetwork", "subnetwork %s is in %s, but the workers run in %s", s.Subnetwork, m[1], workers)
		}
	}
	if f.Name != "" && et.Name != "" {
		if name := JobName(f.Name, et.Name); len(name) > 1024 {
			p.add(et.Line, field+".name", "job name %q is too long", name)
		}
	}
}

// checkQuotaConsistency reports event types of one project that disagree on the project's
// quota.
func (p *parser) checkQuotaConsistency(f *Fleet) {
	first := map[string]int{}
	for i, et := range f.EventTypes {
		s := merge(f.Defaults, et.Settings)
		if s.Project == "" || s.MaxActiveJobsPerProject == 0 {
			continue
		}
		j, ok := first[s.Project]
		if !ok {
			first[s.Project] = i
			continue
		}
		if other := merge(f.Defaults, f.EventTypes[j].Settings).MaxActiveJobsPerProject; other != s.MaxActiveJobsPerProject {
			p.add(et.Line, fmt.Sprintf("event_types[%d].max_active_jobs_per_project", i),
				"%d disagrees with %d set for project %s by event_types[%d]", s.MaxActiveJobsPerProject, other, s.Project, j)
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// suggest names the closest allowed key when there is an obvious one.
func suggest(key string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(key, a); d < bestD {
			best, bestD = a, d
		}
	}
	if best == "" {
		return " (allowed: " + strings.Join(allowed, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sortProblems orders problems top to bottom, keeping the order found within a line.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
}
