// Package dataflow is the launcher's thin layer over Google's Dataflow clients
// (cloud.google.com/go/dataflow/apiv1beta3): Flex Template launches, job listing, reads,
// drains and cancels, with the launcher's own small Job type.
//
// [Dial] uses Application Default Credentials, or, when Config.EmulatorHost is set (the
// launcher sets it from DATAFLOW_EMULATOR_HOST), an insecure gRPC connection without
// credentials to a fake such as launcher/fakegcp.
//
// The decorators [WithConcurrency], [WithRateLimit] and [WithRetry]
// wrap any [API] with a bound on calls in flight, a client-side rate limit and retries of
// idempotent calls.
package dataflow

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	dfapi "cloud.google.com/go/dataflow/apiv1beta3"
	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// State is a job state without its JOB_STATE_ prefix: RUNNING, QUEUED, DRAINED, …
type State string

// The states the launcher reasons about.
const (
	StateUnknown    State = "UNKNOWN"
	StateQueued     State = "QUEUED"
	StatePending    State = "PENDING"
	StateRunning    State = "RUNNING"
	StateDraining   State = "DRAINING"
	StateDrained    State = "DRAINED"
	StateCancelling State = "CANCELLING"
	StateCancelled  State = "CANCELLED"
	StateFailed     State = "FAILED"
	StateUpdated    State = "UPDATED"
	StateDone       State = "DONE"
	StateStopped    State = "STOPPED"
	StateCleaningUp State = "RESOURCE_CLEANING_UP"
	StatePausing    State = "PAUSING"
	StatePaused     State = "PAUSED"
)

// Active reports whether a job in this state holds its name and counts against the
// project's quota.
func (s State) Active() bool {
	switch s {
	case StateDone, StateFailed, StateCancelled, StateUpdated, StateDrained:
		return false
	}
	return true
}

// Starting reports whether a job is on its way to RUNNING.
func (s State) Starting() bool {
	return s == StateQueued || s == StatePending || s == StateStopped
}

func stateOf(s dataflowpb.JobState) State {
	return State(strings.TrimPrefix(s.String(), "JOB_STATE_"))
}

// Job is what the launcher knows of a Dataflow job.
type Job struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Project    string    `json:"project"`
	Region     string    `json:"region"`
	State      State     `json:"state"`
	StateTime  time.Time `json:"state_time"`
	CreateTime time.Time `json:"create_time"`
	ReplacedBy string    `json:"replaced_by,omitempty"`
	// Replaces is the job an in-place update launched this job to replace; only Get
	// knows it (listings are summaries).
	Replaces string `json:"replaces,omitempty"`
	// Error is the last error message of a FAILED job read with Get (from its job
	// messages): why it failed, e.g. an update that was not compatible.
	Error string `json:"error,omitempty"`
	// Labels are nil when the job came from a listing: Dataflow lists summaries only.
	Labels map[string]string `json:"labels,omitempty"`
	// Workers are the job's autoscaling bounds as it runs now (its runtime-updatable
	// parameters, else its launch environment); only Get knows them.
	Workers Workers `json:"workers,omitzero"`
	// StreamingEngine reports whether the job runs on Streaming Engine, the only jobs
	// whose Workers can be changed in place; only Get knows it.
	StreamingEngine bool `json:"streaming_engine,omitempty"`
	// Batch reports a batch job (JOB_TYPE_BATCH), which ends DONE by itself: a backfill.
	// Listings know it too.
	Batch bool `json:"batch,omitempty"`
	// Options are the pipeline's flags the job was launched with (the Flex Template's
	// parameters), as Beam Go's Dataflow runner records them in the job's SDK pipeline
	// options ("beam:option:go_options:v1"); nil when the job does not say (a listing, or
	// a job of another SDK). Only Get knows them. Left out of JSON: they hold the schema.
	Options map[string]string `json:"-"`
}

// Workers are the autoscaling bounds of a job; 0 means not set (Dataflow's default).
type Workers struct {
	Max int `json:"max,omitempty"`
	Min int `json:"min,omitempty"`
}

// Incompatible reports whether a job is the replacement of an in-place update that
// Dataflow found not compatible with the job it was to replace: it FAILED, and its error
// says so. The old job runs on.
func (j Job) Incompatible() bool {
	return j.State == StateFailed && j.Replaces != "" && strings.Contains(strings.ToLower(j.Error), "not compatible")
}

func jobOf(pb *dataflowpb.Job) Job {
	j := Job{
		ID:         pb.GetId(),
		Name:       pb.GetName(),
		Project:    pb.GetProjectId(),
		Region:     pb.GetLocation(),
		State:      stateOf(pb.GetCurrentState()),
		ReplacedBy: pb.GetReplacedByJobId(),
		Replaces:   pb.GetReplaceJobId(),
		Labels:     maps.Clone(pb.GetLabels()),
		Batch:      pb.GetType() == dataflowpb.JobType_JOB_TYPE_BATCH,
	}
	if t := pb.GetCurrentStateTime(); t != nil {
		j.StateTime = t.AsTime()
	}
	if t := pb.GetCreateTime(); t != nil {
		j.CreateTime = t.AsTime()
	}
	env := pb.GetEnvironment()
	j.StreamingEngine = slices.Contains(env.GetExperiments(), "enable_streaming_engine")
	if pools := env.GetWorkerPools(); len(pools) > 0 {
		j.Workers.Max = int(pools[0].GetAutoscalingSettings().GetMaxNumWorkers())
	}
	j.Options = goOptions(env.GetSdkPipelineOptions())
	if rp := pb.GetRuntimeUpdatableParams(); rp != nil {
		if rp.MaxNumWorkers != nil {
			j.Workers.Max = int(rp.GetMaxNumWorkers())
		}
		j.Workers.Min = int(rp.GetMinNumWorkers())
	}
	return j
}

// goOptionsKey is where Beam Go's Dataflow runner (runners/dataflow/dataflowlib, v2.77.0)
// puts a pipeline's flags in the job's SDK pipeline options: {"options": {flag: value}}.
const goOptionsKey = "beam:option:go_options:v1"

// goOptions returns the Go pipeline flags recorded in a job's SDK pipeline options, nil
// when there are none.
func goOptions(sdk *structpb.Struct) map[string]string {
	opts := sdk.GetFields()[goOptionsKey].GetStructValue().GetFields()["options"].GetStructValue().GetFields()
	if len(opts) == 0 {
		return nil
	}
	out := make(map[string]string, len(opts))
	for k, v := range opts {
		out[k] = v.GetStringValue()
	}
	return out
}

// LaunchRequest launches one job from a Flex Template.
type LaunchRequest struct {
	Project  string
	Region   string
	JobName  string
	Template string // gs:// path of the template spec
	// Parameters are the template's parameters.
	Parameters map[string]string
	// Environment is the job's runtime environment, as the fleet file sets it.
	Environment fleet.Environment
	Labels      map[string]string
	// Update replaces the running job of the same name in place.
	Update bool
	// Batch launches a bounded pipeline (a backfill), which Dataflow runs as a batch job:
	// no Streaming Engine.
	Batch bool
}

// Filter selects jobs in a listing.
type Filter int

// Filters.
const (
	All Filter = iota
	Active
	Terminated
)

// ListRequest lists the jobs of a project in a region.
type ListRequest struct {
	Project string
	Region  string
	Filter  Filter
	// Name, when set, lists only jobs of that name.
	Name string
}

// API is what the launcher needs from Dataflow.
type API interface {
	Launch(ctx context.Context, req LaunchRequest) (Job, error)
	// List returns every job that matches, across all pages, newest first.
	List(ctx context.Context, req ListRequest) ([]Job, error)
	// Get returns a job with its labels.
	Get(ctx context.Context, project, region, id string) (Job, error)
	Drain(ctx context.Context, project, region, id string) (Job, error)
	Cancel(ctx context.Context, project, region, id string) (Job, error)
	// SetWorkers changes the autoscaling bounds of a running Streaming Engine job in
	// place (same job, no update launch); a zero bound is left as it is.
	SetWorkers(ctx context.Context, project, region, id string, w Workers) (Job, error)
}

// Config says how to reach Dataflow: EmulatorHost, host:port of a fake (empty: the real
// service with Application Default Credentials), and Options passed to Google's clients
// after the ones Dial derives. It is the Config of every layer over Google's clients.
type Config = gcpclient.Config

// Client implements API with Google's clients.
type Client struct {
	clients  *gcpclient.Clients
	flex     *dfapi.FlexTemplatesClient
	jobs     *dfapi.JobsV1Beta3Client
	messages *dfapi.MessagesV1Beta3Client
}

// Dial connects to Dataflow (or the emulator).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	return gcpclient.Open(ctx, cfg.ClientOptions(), func(cs *gcpclient.Clients) *Client {
		return &Client{
			clients:  cs,
			flex:     gcpclient.Dial(cs, "dataflow: flex templates client", dfapi.NewFlexTemplatesClient),
			jobs:     gcpclient.Dial(cs, "dataflow: jobs client", dfapi.NewJobsV1Beta3Client),
			messages: gcpclient.Dial(cs, "dataflow: messages client", dfapi.NewMessagesV1Beta3Client),
		}
	})
}

// Close closes the connections.
func (c *Client) Close() error {
	return c.clients.Close()
}

// Launch launches a Flex Template job.
func (c *Client) Launch(ctx context.Context, r LaunchRequest) (Job, error) {
	env := r.Environment
	resp, err := c.flex.LaunchFlexTemplate(ctx, &dataflowpb.LaunchFlexTemplateRequest{
		ProjectId: r.Project,
		Location:  r.Region,
		LaunchParameter: &dataflowpb.LaunchFlexTemplateParameter{
			JobName:    r.JobName,
			Template:   &dataflowpb.LaunchFlexTemplateParameter_ContainerSpecGcsPath{ContainerSpecGcsPath: r.Template},
			Parameters: r.Parameters,
			Environment: &dataflowpb.FlexTemplateRuntimeEnvironment{
				TempLocation:          env.TempLocation,
				ServiceAccountEmail:   env.ServiceAccount,
				MachineType:           env.MachineType,
				MaxWorkers:            int32(env.MaxWorkers),
				AdditionalUserLabels:  r.Labels,
				EnableStreamingEngine: !r.Batch,
				Network:               env.Network,
				Subnetwork:            env.Subnetwork,
				IpConfiguration:       ipConfiguration(env.IPConfiguration == "private"),
				StagingLocation:       env.StagingLocation,
				LauncherMachineType:   env.LauncherMachineType,
				WorkerRegion:          env.WorkerRegion,
				WorkerZone:            env.WorkerZone,
				KmsKeyName:            env.KMSKeyName,
				AdditionalExperiments: env.Experiments,
			},
			Update: r.Update,
		},
	})
	if err != nil {
		return Job{}, err
	}
	j := jobOf(resp.GetJob())
	if j.Labels == nil {
		j.Labels = maps.Clone(r.Labels)
	}
	return j, nil
}

// ConsoleURL is the page of a job in the Google Cloud console.
func ConsoleURL(project, region, id string) string {
	return fmt.Sprintf("https://console.cloud.google.com/dataflow/jobs/%s/%s?project=%s", region, id, project)
}

// ipConfiguration leaves the choice to Dataflow (public) unless private IPs are asked for.
func ipConfiguration(private bool) dataflowpb.WorkerIPAddressConfiguration {
	if private {
		return dataflowpb.WorkerIPAddressConfiguration_WORKER_IP_PRIVATE
	}
	return dataflowpb.WorkerIPAddressConfiguration_WORKER_IP_UNSPECIFIED
}

// List lists jobs, following page tokens.
func (c *Client) List(ctx context.Context, r ListRequest) ([]Job, error) {
	req := &dataflowpb.ListJobsRequest{ProjectId: r.Project, Location: r.Region}
	switch r.Filter {
	case Active:
		req.Filter = dataflowpb.ListJobsRequest_ACTIVE
	case Terminated:
		req.Filter = dataflowpb.ListJobsRequest_TERMINATED
	default:
		req.Filter = dataflowpb.ListJobsRequest_ALL
	}
	if r.Name != "" {
		req.Name = &r.Name
	}
	pbs, err := gcpclient.Collect(c.jobs.ListJobs(ctx, req).Next)
	if err != nil {
		return nil, err
	}
	var out []Job
	for _, pb := range pbs {
		j := jobOf(pb)
		if j.Region == "" {
			j.Region = r.Region
		}
		out = append(out, j)
	}
	return out, nil
}

// Get reads one job, with its labels (JOB_VIEW_DESCRIPTION); for a FAILED job also its
// last error message (ListJobMessages), since the Job resource does not say why it failed.
func (c *Client) Get(ctx context.Context, project, region, id string) (Job, error) {
	pb, err := c.jobs.GetJob(ctx, &dataflowpb.GetJobRequest{ProjectId: project, Location: region, JobId: id, View: dataflowpb.JobView_JOB_VIEW_DESCRIPTION})
	if err != nil {
		return Job{}, err
	}
	j := jobOf(pb)
	if j.State == StateFailed {
		if j.Error, err = c.lastError(ctx, project, region, id); err != nil {
			return Job{}, fmt.Errorf("messages of job %s: %w", id, err)
		}
	}
	return j, nil
}

// lastError returns the newest error message of a job, "" when it has none.
func (c *Client) lastError(ctx context.Context, project, region, id string) (string, error) {
	ms, err := gcpclient.Collect(c.messages.ListJobMessages(ctx, &dataflowpb.ListJobMessagesRequest{ProjectId: project, Location: region, JobId: id,
		MinimumImportance: dataflowpb.JobMessageImportance_JOB_MESSAGE_ERROR}).Next)
	if err != nil || len(ms) == 0 {
		return "", err
	}
	return ms[len(ms)-1].GetMessageText(), nil
}

// Drain asks a streaming job to drain.
func (c *Client) Drain(ctx context.Context, project, region, id string) (Job, error) {
	return c.requestState(ctx, project, region, id, dataflowpb.JobState_JOB_STATE_DRAINED)
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, project, region, id string) (Job, error) {
	return c.requestState(ctx, project, region, id, dataflowpb.JobState_JOB_STATE_CANCELLED)
}

func (c *Client) requestState(ctx context.Context, project, region, id string, st dataflowpb.JobState) (Job, error) {
	pb, err := c.jobs.UpdateJob(ctx, &dataflowpb.UpdateJobRequest{
		ProjectId: project, Location: region, JobId: id,
		Job: &dataflowpb.Job{RequestedState: st},
	})
	if err != nil {
		return Job{}, err
	}
	return jobOf(pb), nil
}

// SetWorkers updates a job's runtime-updatable parameters (UpdateJob with an update mask
// naming runtime_updatable_params.max_num_workers and/or min_num_workers).
func (c *Client) SetWorkers(ctx context.Context, project, region, id string, w Workers) (Job, error) {
	rp := &dataflowpb.RuntimeUpdatableParams{}
	mask := &fieldmaskpb.FieldMask{}
	if w.Max > 0 {
		rp.MaxNumWorkers = int32p(w.Max)
		mask.Paths = append(mask.Paths, "runtime_updatable_params.max_num_workers")
	}
	if w.Min > 0 {
		rp.MinNumWorkers = int32p(w.Min)
		mask.Paths = append(mask.Paths, "runtime_updatable_params.min_num_workers")
	}
	if len(mask.Paths) == 0 {
		return Job{}, fmt.Errorf("set workers of job %s: no bound given", id)
	}
	pb, err := c.jobs.UpdateJob(ctx, &dataflowpb.UpdateJobRequest{
		ProjectId: project, Location: region, JobId: id,
		Job:        &dataflowpb.Job{RuntimeUpdatableParams: rp},
		UpdateMask: mask,
	})
	if err != nil {
		return Job{}, err
	}
	return jobOf(pb), nil
}

func int32p(n int) *int32 { v := int32(n); return &v }
