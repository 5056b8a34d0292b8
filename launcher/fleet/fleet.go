// Package fleet reads, validates and expands the fleet file: the YAML document that
// describes every event type of a fleet, the pinned pipeline version, and the settings
// each event type's Dataflow job runs with.
//
// # Reading
//
// [Load] parses the file with yaml.v3's node API so that every problem carries the line it
// was found on, and reports all problems at once as a [*ValidationError] (one
// `file:line: field: problem` per line): unknown or duplicate keys, bad names, duplicate
// event types, unreadable or invalid Avro schemas, bad durations and numbers, a template
// without a `{version}` placeholder, missing required settings.
//
// # Effective configuration
//
// [Fleet.Jobs] merges each event type with the defaults and returns one [Job] per event
// type: its Dataflow job name (`<fleet>-<event type>`), project and region, the Flex
// Template path for its version, the template parameters (the pipeline's flags, see
// [PipelineParameters]), the runtime environment, and the labels the launcher recognises
// its jobs by, including a short hash of the effective configuration ([Job.ConfigHash]).
package fleet

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/eventdelivery/eventdelivery/internal/revisions"
)

// Label keys the launcher puts on every job it launches. The launcher only ever touches
// jobs that carry LabelManagedBy=ManagedByValue.
const (
	LabelManagedBy       = "managed-by"
	LabelFleet           = "fleet"
	LabelEventType       = "event-type"
	LabelPipelineVersion = "pipeline-version"
	LabelConfigHash      = "config-hash"

	// ManagedByValue is the value of LabelManagedBy on every job the launcher owns.
	ManagedByValue = "eventdelivery"
)

// ReservedLabels are the label keys the fleet file may not set itself.
var ReservedLabels = []string{LabelManagedBy, LabelFleet, LabelEventType, LabelPipelineVersion, LabelConfigHash,
	LabelTemplateVersion, LabelRolloutID, LabelPreviousVersion, LabelRolledBackFrom,
	LabelBackfill, LabelBackfillFrom, LabelBackfillTo}

// DefaultMaxActiveJobsPerProject is Dataflow's default quota of concurrently active jobs
// per project.
const DefaultMaxActiveJobsPerProject = 25

// DefaultLaunchesPerMinute is how many Flex Template launches per minute deploy starts
// in one project by default. Every launch runs a launcher VM for a few minutes, so this
// bounds the launcher VMs (CPUs, IP addresses) a deploy holds at once.
const DefaultLaunchesPerMinute = 10

// LauncherVMMinutes is how long a Flex Template launcher VM is assumed to live, for the
// plan's estimate of VMs at once.
const LauncherVMMinutes = 5

// Fleet is a parsed and validated fleet file.
type Fleet struct {
	// Path is the file the fleet was read from.
	Path string
	// Name is the fleet's name (`fleet:`), the prefix of every job name.
	Name string
	// Version is the pinned pipeline version (`version:`).
	Version string
	// Template is the Flex Template spec path with its `{version}` placeholder.
	Template string
	// Defaults apply to every event type unless it overrides them.
	Defaults Settings
	// EventTypes in file order.
	EventTypes []EventType
	// Rollout says how deploy upgrades the fleet in waves; nil without `rollout:`.
	Rollout *Rollout
}

// Settings are the keys that `defaults:` holds and each event type may override. An empty
// string or zero number means "not set here".
type Settings struct {
	Project                 string
	Region                  string
	Output                  string
	Layout                  string // bucket folder names, output.Paths: date or hive
	NotifyTopic             string // projects/P/topics/T announcing closed buckets
	TempLocation            string
	ServiceAccount          string
	MachineType             string
	MaxWorkers              int
	Network                 string
	Subnetwork              string
	IPConfiguration         string // "public" or "private"
	StagingLocation         string
	LauncherMachineType     string
	WorkerRegion            string
	WorkerZone              string
	KMSKeyName              string
	AdditionalExperiments   []string
	SkewTolerance           string
	MaxFuture               string
	BucketWidth             string
	BucketTime              string
	EventID                 string
	Shards                  int
	EarlyPanes              string
	Labels                  map[string]string
	MaxActiveJobsPerProject int
	// LaunchesPerMinute paces deploy's launches in the project (the smallest value of
	// its event types applies).
	LaunchesPerMinute int
	// Alerts are the `alerts:` block: thresholds and notification channels of the
	// fleet's Cloud Monitoring alert policies. They are not part of the job's
	// configuration (changing them never touches a job).
	Alerts AlertSettings
}

// EventType is one entry of `event_types:`.
type EventType struct {
	Name         string
	Subscription string
	// SubscriptionLine is the line of the subscription key.
	SubscriptionLine int
	// Schema is the schema path as written, relative to the fleet file, or a Pub/Sub
	// schema (projects/P/schemas/S[@REVISION], see IsPubSubSchema) the job reads at start.
	Schema string
	// SchemaLine is the line of the schema key.
	SchemaLine int
	// SchemaJSON is the schema file's content, compacted; empty for a Pub/Sub schema.
	SchemaJSON string
	// SchemaRevisions is a gs:// folder of <revision_id>.avsc files: the writer revisions
	// the job resolves into SchemaJSON (the pipeline's --schema_revisions).
	SchemaRevisions string
	// PreviousSchemas are schema files, relative to the fleet file, of revisions producers
	// may still publish: validate refuses a schema that cannot read one of them.
	PreviousSchemas []string
	// Version overrides the fleet's pinned version (a canary); empty means the fleet's.
	Version string
	Settings
	// Line is where the entry starts in the file.
	Line int
}

// Job is the effective configuration of one event type's Dataflow job.
type Job struct {
	EventType string `json:"event_type"`
	// Name is the Dataflow job name, `<fleet>-<event type>`.
	Name    string `json:"name"`
	Project string `json:"project"`
	Region  string `json:"region"`
	// Version is the pipeline version this job should run.
	Version string `json:"version"`
	// Template is the Flex Template spec path for Version.
	Template string `json:"template"`
	// Parameters are the Flex Template parameters (the pipeline's flags), without run_id,
	// which the launcher adds per launch.
	Parameters map[string]string `json:"parameters"`
	// Environment is the runtime environment of the job.
	Environment Environment `json:"environment"`
	// Labels are all labels of the job: the user's and the launcher's own.
	Labels map[string]string `json:"labels"`
	// ConfigHash is a short hash of everything above except the version, which has its own
	// label.
	ConfigHash string `json:"config_hash"`
	// hashWithWorkers is the config hash with max_workers in it (see LaunchedBefore).
	hashWithWorkers func(maxWorkers int) string
	// MaxActiveJobsPerProject is the quota the planner checks Project against.
	MaxActiveJobsPerProject int `json:"max_active_jobs_per_project"`
	// LaunchesPerMinute is the launch pace of Project.
	LaunchesPerMinute int `json:"launches_per_minute"`
	// Alerts are the event type's effective alert thresholds and channels.
	Alerts Alerts `json:"alerts"`
	// Line is where the event type is defined in the fleet file.
	Line int `json:"-"`
}

// Environment is the Flex Template runtime environment of a job.
type Environment struct {
	TempLocation   string `json:"temp_location,omitempty"`
	ServiceAccount string `json:"service_account,omitempty"`
	MachineType    string `json:"machine_type,omitempty"`
	MaxWorkers     int    `json:"max_workers,omitempty"`
	// Network and Subnetwork place the workers; Dataflow uses the network "default"
	// without them.
	Network    string `json:"network,omitempty"`
	Subnetwork string `json:"subnetwork,omitempty"`
	// IPConfiguration is "private" (no external IPs), "public" or "" (Dataflow's default,
	// public).
	IPConfiguration string `json:"ip_configuration,omitempty"`
	// StagingLocation is where the launcher VM stages the pipeline binary; default
	// <temp_location>/staging.
	StagingLocation     string   `json:"staging_location,omitempty"`
	LauncherMachineType string   `json:"launcher_machine_type,omitempty"`
	WorkerRegion        string   `json:"worker_region,omitempty"`
	WorkerZone          string   `json:"worker_zone,omitempty"`
	KMSKeyName          string   `json:"kms_key_name,omitempty"`
	Experiments         []string `json:"additional_experiments,omitempty"`
}

// JobName returns the Dataflow job name of an event type in a fleet.
func JobName(fleet, eventType string) string { return fleet + "-" + eventType }

// ResolveTemplate replaces `{version}` in a template path.
func ResolveTemplate(template, version string) string {
	return strings.ReplaceAll(template, "{version}", version)
}

// LabelSafe turns a version into a valid GCP label value: lower case, every character
// other than [a-z0-9_-] replaced by '-', at most 63 characters. "v1.4.2" becomes "v1-4-2".
func LabelSafe(version string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(version) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// Jobs returns the effective configuration of every event type, in file order.
func (f *Fleet) Jobs() []Job {
	jobs := make([]Job, 0, len(f.EventTypes))
	for _, et := range f.EventTypes {
		jobs = append(jobs, f.job(et))
	}
	return jobs
}

func (f *Fleet) job(et EventType) Job {
	s := merge(f.Defaults, et.Settings)
	version := f.Version
	if et.Version != "" {
		version = et.Version
	}
	params := map[string]string{
		ParamEventType:    et.Name,
		ParamSubscription: et.Subscription,
		ParamOutput:       s.Output,
	}
	if IsPubSubSchema(et.Schema) {
		params[ParamSchema] = et.Schema
	} else {
		params[ParamSchemaJSON] = et.SchemaJSON
	}
	setIf := func(k, v string) {
		if v != "" {
			params[k] = v
		}
	}
	setIf(ParamLayout, s.Layout)
	setIf(ParamNotifyTopic, s.NotifyTopic)
	setIf(ParamSchemaRevisions, et.SchemaRevisions)
	setIf(ParamSkewTolerance, s.SkewTolerance)
	setIf(ParamMaxFuture, s.MaxFuture)
	setIf(ParamBucketWidth, s.BucketWidth)
	setIf(ParamBucketTime, s.BucketTime)
	setIf(ParamEventID, s.EventID)
	setIf(ParamEarlyPanes, s.EarlyPanes)
	if s.Shards > 0 {
		params[ParamShards] = strconv.Itoa(s.Shards)
	}
	env := Environment{
		TempLocation:        s.TempLocation,
		ServiceAccount:      s.ServiceAccount,
		MachineType:         s.MachineType,
		MaxWorkers:          s.MaxWorkers,
		Network:             s.Network,
		Subnetwork:          s.Subnetwork,
		IPConfiguration:     s.IPConfiguration,
		StagingLocation:     s.StagingLocation,
		LauncherMachineType: s.LauncherMachineType,
		WorkerRegion:        s.WorkerRegion,
		WorkerZone:          s.WorkerZone,
		KMSKeyName:          s.KMSKeyName,
		Experiments:         slices.Clone(s.AdditionalExperiments),
	}
	maxActive := s.MaxActiveJobsPerProject
	if maxActive == 0 {
		maxActive = DefaultMaxActiveJobsPerProject
	}
	j := Job{
		EventType:               et.Name,
		Name:                    JobName(f.Name, et.Name),
		Project:                 s.Project,
		Region:                  s.Region,
		Version:                 version,
		Template:                ResolveTemplate(f.Template, version),
		Parameters:              params,
		Environment:             env,
		MaxActiveJobsPerProject: maxActive,
		LaunchesPerMinute:       cmp.Or(s.LaunchesPerMinute, DefaultLaunchesPerMinute),
		Alerts:                  s.Alerts.effective(),
		Line:                    et.Line,
	}
	j.ConfigHash = configHash(j, s.Labels, nil)
	j.hashWithWorkers = func(maxWorkers int) string { return configHash(j, s.Labels, &maxWorkers) }
	// The default staging location follows temp_location, which is hashed already; only
	// an explicit one is part of the hash, so that fleets launched before the key
	// existed keep their hash.
	if j.Environment.StagingLocation == "" && s.TempLocation != "" {
		j.Environment.StagingLocation = strings.TrimSuffix(s.TempLocation, "/") + "/staging"
	}
	labels := maps.Clone(s.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelFleet] = f.Name
	labels[LabelEventType] = et.Name
	labels[LabelPipelineVersion] = LabelSafe(version)
	labels[LabelConfigHash] = j.ConfigHash
	if enc, ok := EncodeVersionLabel(version); ok {
		labels[LabelTemplateVersion] = enc
	}
	j.Labels = labels
	return j
}

// configHash hashes the effective configuration except the version (and so the template
// path), which has a label of its own: a version bump shows as a version change, not as a
// config change; and except the worker bounds, which change in place. Launchers before
// in-place changes hashed max_workers too: with maxWorkers, it hashes as they did.
func configHash(j Job, userLabels map[string]string, maxWorkers *int) string {
	h := sha256.New()
	w := func(k, v string) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	w("project", j.Project)
	w("region", j.Region)
	for _, k := range slices.Sorted(maps.Keys(j.Parameters)) {
		w("param."+k, j.Parameters[k])
	}
	w("env.temp_location", j.Environment.TempLocation)
	w("env.service_account", j.Environment.ServiceAccount)
	w("env.machine_type", j.Environment.MachineType)
	// max_workers is not hashed: Dataflow changes it on a running Streaming Engine job in
	// place (plan.InPlace), so a change of it alone needs no update.
	if maxWorkers != nil {
		w("env.max_workers", strconv.Itoa(*maxWorkers))
	}
	// Keys added later are hashed only when set, so that existing jobs keep their hash.
	for _, kv := range [][2]string{
		{"network", j.Environment.Network},
		{"subnetwork", j.Environment.Subnetwork},
		{"ip_configuration", j.Environment.IPConfiguration},
		{"staging_location", j.Environment.StagingLocation},
		{"launcher_machine_type", j.Environment.LauncherMachineType},
		{"worker_region", j.Environment.WorkerRegion},
		{"worker_zone", j.Environment.WorkerZone},
		{"kms_key_name", j.Environment.KMSKeyName},
		{"additional_experiments", strings.Join(j.Environment.Experiments, ",")},
	} {
		if kv[1] != "" {
			w("env."+kv[0], kv[1])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(userLabels)) {
		w("label."+k, userLabels[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

// LaunchedBefore reports whether hash, a running job's config-hash label, is this job's
// configuration as launchers before in-place changes hashed it, with the job's max_workers
// in it. Such a job runs this configuration (an upgrade of the launcher updates no job),
// and its max_workers are still those it was launched with.
func (j Job) LaunchedBefore(hash string, maxWorkers int) bool {
	return hash != j.ConfigHash && hash == j.LegacyConfigHash(maxWorkers)
}

// LegacyConfigHash returns the config hash of the job as launchers before in-place changes
// computed it, for a job launched with maxWorkers.
func (j Job) LegacyConfigHash(maxWorkers int) string {
	if j.hashWithWorkers == nil {
		return ""
	}
	return j.hashWithWorkers(maxWorkers)
}

func merge(d, o Settings) Settings {
	pick := func(a, b string) string {
		if b != "" {
			return b
		}
		return a
	}
	pickInt := func(a, b int) int {
		if b != 0 {
			return b
		}
		return a
	}
	s := Settings{
		Project:                 pick(d.Project, o.Project),
		Region:                  pick(d.Region, o.Region),
		Output:                  pick(d.Output, o.Output),
		Layout:                  pick(d.Layout, o.Layout),
		NotifyTopic:             pick(d.NotifyTopic, o.NotifyTopic),
		TempLocation:            pick(d.TempLocation, o.TempLocation),
		ServiceAccount:          pick(d.ServiceAccount, o.ServiceAccount),
		MachineType:             pick(d.MachineType, o.MachineType),
		MaxWorkers:              pickInt(d.MaxWorkers, o.MaxWorkers),
		Network:                 pick(d.Network, o.Network),
		Subnetwork:              pick(d.Subnetwork, o.Subnetwork),
		IPConfiguration:         pick(d.IPConfiguration, o.IPConfiguration),
		StagingLocation:         pick(d.StagingLocation, o.StagingLocation),
		LauncherMachineType:     pick(d.LauncherMachineType, o.LauncherMachineType),
		WorkerRegion:            pick(d.WorkerRegion, o.WorkerRegion),
		WorkerZone:              pick(d.WorkerZone, o.WorkerZone),
		KMSKeyName:              pick(d.KMSKeyName, o.KMSKeyName),
		AdditionalExperiments:   d.AdditionalExperiments,
		SkewTolerance:           pick(d.SkewTolerance, o.SkewTolerance),
		MaxFuture:               pick(d.MaxFuture, o.MaxFuture),
		BucketWidth:             pick(d.BucketWidth, o.BucketWidth),
		BucketTime:              pick(d.BucketTime, o.BucketTime),
		EventID:                 pick(d.EventID, o.EventID),
		Shards:                  pickInt(d.Shards, o.Shards),
		EarlyPanes:              pick(d.EarlyPanes, o.EarlyPanes),
		MaxActiveJobsPerProject: pickInt(d.MaxActiveJobsPerProject, o.MaxActiveJobsPerProject),
		LaunchesPerMinute:       pickInt(d.LaunchesPerMinute, o.LaunchesPerMinute),
		Alerts:                  mergeAlerts(d.Alerts, o.Alerts),
	}
	if o.AdditionalExperiments != nil {
		s.AdditionalExperiments = o.AdditionalExperiments
	}
	if len(d.Labels)+len(o.Labels) > 0 {
		s.Labels = maps.Clone(d.Labels)
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		maps.Copy(s.Labels, o.Labels)
	}
	return s
}

// LaunchesPerMinute returns the launch pace of every project of the fleet: the smallest
// launches_per_minute of its event types.
func (f *Fleet) LaunchesPerMinute() map[string]int {
	out := map[string]int{}
	for _, j := range f.Jobs() {
		if n, ok := out[j.Project]; !ok || j.LaunchesPerMinute < n {
			out[j.Project] = j.LaunchesPerMinute
		}
	}
	return out
}

// IsPubSubSchema reports whether an event type's schema names a Pub/Sub schema
// (projects/P/schemas/S or projects/P/schemas/S@REVISION) rather than a schema file.
func IsPubSubSchema(schema string) bool { return revisions.IsPubSub(schema) }
