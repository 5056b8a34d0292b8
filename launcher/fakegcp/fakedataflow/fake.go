// Package fakedataflow is an in-process fake of the Dataflow API (v1beta3), served over
// gRPC to Google's own Go clients (cloud.google.com/go/dataflow/apiv1beta3), in the style
// of pstest for Pub/Sub.
//
//	srv, err := fakedataflow.NewServer(fakedataflow.WithStartDelay(2 * time.Second))
//	...
//	defer srv.Close()
//	jobs, err := dataflow.NewJobsV1Beta3Client(ctx,
//		option.WithEndpoint(srv.Addr),
//		option.WithoutAuthentication(),
//		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
//
// # Behavior
//
// It implements FlexTemplatesService.LaunchFlexTemplate, JobsV1Beta3's GetJob,
// ListJobs, AggregatedListJobs and UpdateJob, and MessagesV1Beta3.ListJobMessages, with
// the rules the launcher depends on:
//
//   - A launched job is QUEUED, PENDING after half the start delay and RUNNING after the
//     start delay ([WithStartDelay]). A streaming job runs until it is drained, cancelled
//     or fails; a batch job (JOB_TYPE_BATCH: launched with the parameter named by
//     [WithBatchParameter]) runs for its run time ([WithBatchRunTime]) and is then DONE. Transitions are computed from the server's clock
//     ([WithClock], [Server.SetTimeNow]) whenever state is read, so tests can drive time
//     instead of sleeping.
//   - Job names must match [a-z]([-a-z0-9]{0,1022}[a-z0-9])? (jobs.proto); labels follow GCP's rules (keys
//     start with a lowercase letter, keys and values at most 63 of [a-z0-9_-], at most 64
//     labels): otherwise INVALID_ARGUMENT.
//   - At most one active job per name per project and region: a second launch without
//     update fails with ALREADY_EXISTS.
//   - A launch answers with the new job's id, project, name and location only: no state
//     (JOB_STATE_UNKNOWN) and no times, as Dataflow's response does.
//   - A launch with update=true replaces the RUNNING job of that name with a new job (a
//     new id, the same name, replace_job_id set). The handover is Dataflow's: both jobs
//     are active until the new one runs; then the old one becomes JOB_STATE_UPDATED with
//     replaced_by_job_id. If the new job fails instead, the old one runs on. An update
//     targets the newest active job of the name: without one, NOT_FOUND; when it is not
//     RUNNING (an update still in progress included), FAILED_PRECONDITION.
//   - An incompatible update ([WithIncompatibleUpdate]) is accepted like any other; its
//     new job FAILS when it would have started, with an error message saying it is not
//     compatible (ListJobMessages, JOB_MESSAGE_ERROR), and the old job runs on. A job
//     can also fail before it runs for any reason ([WithStartFailure]: an image,
//     parameter, network or quota problem); the launch call succeeds all the same.
//   - The launch environment is recorded ([Server.Jobs]) and GetJob reports it the way
//     Dataflow does: temp location, service account, KMS key, experiments, worker
//     region and zone, public IPs in the Environment; machine type, network,
//     subnetwork, IP configuration and max workers in its one worker pool; temp and
//     staging locations in the SDK pipeline options, and the launch parameters where a
//     Beam Go pipeline's Dataflow runner records its flags (the SDK pipeline options'
//     "beam:option:go_options:v1" options). worker_region with worker_zone, a
//     non-gs:// staging or temp location or a malformed KMS key name: INVALID_ARGUMENT.
//     A project given networks ([WithNetworks]) fails jobs launched into any other
//     network (without one: "default") before they run; one that forbids external IPs
//     ([WithExternalIPsForbidden]) fails jobs without private IPs.
//   - More active jobs in a project than its quota ([WithMaxActiveJobsPerProject], default
//     25, counted across regions): RESOURCE_EXHAUSTED.
//   - UpdateJob with requested_state JOB_STATE_DRAINED drains a RUNNING streaming job
//     (DRAINING, then DRAINED after [WithDrainDelay]; a batch job: FAILED_PRECONDITION, as
//     Dataflow drains streaming jobs only); JOB_STATE_CANCELLED cancels an active job
//     (CANCELLING, then CANCELLED after [WithCancelDelay]), except one still QUEUED:
//     FAILED_PRECONDITION "not yet ready for canceling" (retry). Any change of a job
//     that has stopped: FAILED_PRECONDITION "Job has terminated".
//   - UpdateJob with an update mask changes a job's runtime-updatable parameters in place
//     (same id, no new job): max_num_workers, min_num_workers, worker_utilization_hint
//     ([MaskMaxNumWorkers] …), only of a RUNNING Streaming Engine job (else
//     FAILED_PRECONDITION); bounds within 1..1000 with min ≤ max, a hint within
//     [0.1, 0.9], other paths, a path without its value or a mask together with
//     requested_state: INVALID_ARGUMENT. GetJob then reports runtime_updatable_params
//     and the new maximum in the worker pool.
//   - ListJobs returns summaries (no labels, no environment), newest first, filtered by
//     ACTIVE, TERMINATED or ALL (the default) and optionally by name, in pages of at most
//     [WithPageSize] jobs (default 10) with page tokens. GetJob returns the full job,
//     labels included, unless the view is JOB_VIEW_SUMMARY.
//   - Every error is a gRPC status with the code Dataflow uses.
//
// Faults and latency are injected per method ([WithFault], [WithLatency], [Server.SetFault],
// [Server.SetLatency]): an error code with a probability or for the next N calls, and the
// case Dataflow clients dread, an error returned although the call took effect
// ([Fault.AfterEffect]). Latency is real time and respects the caller's deadline.
//
// # Differences from Dataflow
//
//   - Templates are not read: the spec path must be a gs:// path, and parameters are only
//     checked when the template was registered with [WithTemplate].
//   - No workers, no steps, no metrics; messages only for failures. Jobs never fail on
//     their own (use [Server.FailJob], [WithStartFailure]); in particular the launch
//     environment is recorded but never checked: a network, subnetwork, service account
//     or KMS key that does not exist, or an exhausted CPU or IP quota, fails a real job
//     after launch and never a fake one.
//   - The job type is the pipeline's choice in Dataflow (a bounded pipeline runs as a
//     batch job); the fake reads no pipeline, so it takes the type from one launch
//     parameter ([WithBatchParameter]; without it every job is a streaming job). A batch
//     job does no work: it is DONE after its run time, whatever its input.
//   - An in-place update is compatible unless its template was marked with
//     [WithIncompatibleUpdate]. The real check compares job graphs, coders and
//     transform names; the error text is Dataflow's in shape, not word for word.
//   - A replacement job takes over at once when it runs; real Dataflow may keep both
//     jobs RUNNING for a while (the old one stops after it handed over its state).
//   - Quota: an update's replacement is not checked against the active job quota,
//     although it is active alongside the old job until it takes over.
//   - Drain is only accepted for RUNNING jobs; cancel for any active job not QUEUED.
//   - Runtime parameter updates take effect at once; real Dataflow applies them within a
//     few minutes. The fake's refusal codes and texts for them are read from the proto
//     and gcloud's docs (which say batch and Streaming Appliance jobs are refused), not
//     observed; the deprecated acceptable_backlog_duration and autoscaling_tier are
//     refused as paths.
//   - The SDK pipeline options' Go options are the launch parameters exactly; a real job's
//     are written by the pipeline's runner on the launcher VM (every flag it was given,
//     Dataflow's own ones filtered out), and their size in GetJob is not known.
//   - CreateJob, CheckActiveJobs, SnapshotJob and the other services are not implemented
//     (UNIMPLEMENTED).
//   - A ListJobs request without a location lists every location (Dataflow lists
//     us-central1 only).
package fakedataflow

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"github.com/eventdelivery/eventdelivery/launcher/fakegcp/internal/fakeserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Method names for faults and latency.
const (
	MethodLaunchFlexTemplate = "LaunchFlexTemplate"
	MethodGetJob             = "GetJob"
	MethodListJobs           = "ListJobs"
	MethodAggregatedListJobs = "AggregatedListJobs"
	MethodUpdateJob          = "UpdateJob"
	MethodListJobMessages    = "ListJobMessages"
)

// Fault makes calls of one method fail. With AfterEffect, a launch creates the job although
// the client sees an error.
type Fault = fakeserver.Fault

type config struct {
	now          func() time.Time
	startDelay   time.Duration
	drainDelay   time.Duration
	cancelDelay  time.Duration
	maxActive    int
	pageSize     int
	inject       fakeserver.Config
	templates    map[string][]string
	projectQuota map[string]int
	incompatible map[string]bool
	startFail    map[string]string
	networks     map[string][]string // by project
	noPublicIPs  map[string]bool     // by project
	batchParam   string              // a launch with this parameter set is a batch job
	batchRunTime time.Duration
}

// Option configures a Server.
type Option func(*config)

// WithClock sets the clock the fake's job transitions follow (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithStartDelay sets how long a launched job takes to become RUNNING (default 0: RUNNING
// from the first read after its launch).
func WithStartDelay(d time.Duration) Option { return func(c *config) { c.startDelay = d } }

// WithDrainDelay sets how long a drain takes (default 0).
func WithDrainDelay(d time.Duration) Option { return func(c *config) { c.drainDelay = d } }

// WithCancelDelay sets how long a cancel takes (default 0).
func WithCancelDelay(d time.Duration) Option { return func(c *config) { c.cancelDelay = d } }

// WithMaxActiveJobsPerProject sets the active job quota of every project (default 25).
func WithMaxActiveJobsPerProject(n int) Option { return func(c *config) { c.maxActive = n } }

// WithProjectQuota sets the active job quota of one project.
func WithProjectQuota(project string, n int) Option {
	return func(c *config) { c.projectQuota[project] = n }
}

// WithPageSize sets the largest ListJobs page (default 10).
func WithPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// WithSeed seeds the random source of probabilistic faults (default 1).
func WithSeed(seed int64) Option { return func(c *config) { c.inject.Seed = seed } }

// WithFault injects a fault into a method (see the Method constants). A method may have
// several faults; for each call they are tried in the order given and the first that fires
// applies.
func WithFault(method string, f Fault) Option {
	return func(c *config) { c.inject.AddFault(method, f) }
}

// WithLatency delays every call of a method.
func WithLatency(method string, d time.Duration) Option {
	return func(c *config) { c.inject.SetLatency(method, d) }
}

// WithTemplate registers a Flex Template spec path with the parameters its metadata
// declares. Once any template is registered, launches of other paths fail with
// INVALID_ARGUMENT, and so do launches with parameters the template does not declare.
func WithTemplate(gcsPath string, parameters ...string) Option {
	return func(c *config) { c.templates[gcsPath] = parameters }
}

// WithIncompatibleUpdate makes every in-place update (a launch with update=true) to the
// template at gcsPath fail its compatibility check the way a Flex Template update does:
// the launch succeeds and returns the new job's id, and when the new job would start it
// FAILS instead, with an error message (ListJobMessages) saying it is not compatible,
// while the old job keeps running. A launch of that template without update is not
// affected.
func WithIncompatibleUpdate(gcsPath string) Option {
	return func(c *config) { c.incompatible[gcsPath] = true }
}

// WithStartFailure makes every job launched from the template at gcsPath fail before it
// runs, with message as its error (ListJobMessages), as a job does whose image, parameters,
// network or quota are wrong: the launch call succeeds, the job goes QUEUED and then
// FAILED instead of RUNNING.
func WithStartFailure(gcsPath, message string) Option {
	return func(c *config) { c.startFail[gcsPath] = message }
}

// WithNetworks declares the VPC networks of a project. Once a project has any, a job
// launched there into another network (without one: "default") fails before it runs, as
// on a project without a default network.
func WithNetworks(project string, networks ...string) Option {
	return func(c *config) { c.networks[project] = append(c.networks[project], networks...) }
}

// WithBatchParameter makes every job launched with the parameter name set (non-empty) a
// batch job (JOB_TYPE_BATCH), as the pipeline makes it one: the eventdelivery pipeline is
// bounded when it is given "input" instead of "subscription". A batch job runs for its run
// time ([WithBatchRunTime]) and is then DONE; it cannot be drained.
func WithBatchParameter(name string) Option { return func(c *config) { c.batchParam = name } }

// WithBatchRunTime sets how long a batch job stays RUNNING before it is DONE (default 0:
// DONE as soon as it runs).
func WithBatchRunTime(d time.Duration) Option { return func(c *config) { c.batchRunTime = d } }

// WithExternalIPsForbidden makes a project forbid external IPs (the organisation policy
// constraints/compute.vmExternalIpAccess): a job launched there without
// ip_configuration WORKER_IP_PRIVATE fails before it runs.
func WithExternalIPsForbidden(project string) Option {
	return func(c *config) { c.noPublicIPs[project] = true }
}

// Service holds the fake's state and implements the Dataflow gRPC services. Most users
// want [Server]; Service is for serving the fake on a gRPC server together with other
// fakes (see [Service.Register] and [Service.UnaryInterceptor]).
type Service struct {
	dataflowpb.UnimplementedJobsV1Beta3Server
	dataflowpb.UnimplementedFlexTemplatesServiceServer
	dataflowpb.UnimplementedMessagesV1Beta3Server

	// Injector applies the injected faults and latency and counts calls: its methods
	// (SetFault, AddFault, SetLatency, Calls, FaultsFired, UnaryInterceptor) take the
	// Method constants.
	*fakeserver.Injector

	mu   sync.Mutex
	cfg  config
	jobs map[string]*job // by id
	seq  int64
}

type job struct {
	pb         *dataflowpb.Job
	seq        int64
	template   string
	params     map[string]string
	env        *dataflowpb.FlexTemplateRuntimeEnvironment
	runningAt  time.Time
	pendingAt  time.Time
	finishAt   time.Time // of a drain or cancel, or when a batch job is done
	finishWith dataflowpb.JobState
	// failWith, when set, is the error the job fails with instead of running.
	failWith string
	messages []*dataflowpb.JobMessage
}

// New returns a Service; register it on a gRPC server with Register and install its
// interceptor for faults and latency.
func New(opts ...Option) *Service {
	cfg := config{
		now:          time.Now,
		maxActive:    25,
		pageSize:     10,
		inject:       fakeserver.Config{Seed: 1},
		templates:    map[string][]string{},
		projectQuota: map[string]int{},
		incompatible: map[string]bool{},
		startFail:    map[string]string{},
		networks:     map[string][]string{},
		noPublicIPs:  map[string]bool{},
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Service{
		Injector: fakeserver.NewInjector("fakedataflow", servicePrefix, cfg.inject),
		cfg:      cfg,
		jobs:     map[string]*job{},
	}
}

// Register registers the Dataflow services on a gRPC server.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	dataflowpb.RegisterJobsV1Beta3Server(r, s)
	dataflowpb.RegisterFlexTemplatesServiceServer(r, s)
	dataflowpb.RegisterMessagesV1Beta3Server(r, s)
}

// Server is a Service listening on a local port: its Addr (host:port) is for
// option.WithEndpoint or DATAFLOW_EMULATOR_HOST; Close stops it.
type Server struct {
	*Service
	*fakeserver.Server
}

// NewServer starts a fake on localhost on a free port.
func NewServer(opts ...Option) (*Server, error) {
	return NewServerAt("127.0.0.1:0", opts...)
}

// NewServerAt starts a fake listening on addr.
func NewServerAt(addr string, opts ...Option) (*Server, error) {
	svc := New(opts...)
	srv, err := fakeserver.Listen("fakedataflow", addr, svc)
	if err != nil {
		return nil, err
	}
	return &Server{Service: svc, Server: srv}, nil
}

const servicePrefix = "/google.dataflow.v1beta3."

// apply applies an option to the running server, under the lock.
func (s *Service) apply(o Option) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o(&s.cfg)
}

// SetTimeNow replaces the clock.
func (s *Service) SetTimeNow(now func() time.Time) { s.apply(WithClock(now)) }

// SetStartDelay changes the start delay of jobs launched from now on.
func (s *Service) SetStartDelay(d time.Duration) { s.apply(WithStartDelay(d)) }

// SetIncompatibleUpdate is [WithIncompatibleUpdate] on a running server; false removes
// the mark.
func (s *Service) SetIncompatibleUpdate(gcsPath string, incompatible bool) {
	if !incompatible {
		s.apply(func(c *config) { delete(c.incompatible, gcsPath) })
		return
	}
	s.apply(WithIncompatibleUpdate(gcsPath))
}

// SetStartFailure is [WithStartFailure] on a running server; an empty message removes it.
func (s *Service) SetStartFailure(gcsPath, message string) {
	if message == "" {
		s.apply(func(c *config) { delete(c.startFail, gcsPath) })
		return
	}
	s.apply(WithStartFailure(gcsPath, message))
}

// SetBatchRunTime changes the run time of batch jobs launched from now on.
func (s *Service) SetBatchRunTime(d time.Duration) { s.apply(WithBatchRunTime(d)) }

// SetDrainDelay changes how long drains requested from now on take.
func (s *Service) SetDrainDelay(d time.Duration) { s.apply(WithDrainDelay(d)) }

// SetProjectQuota sets the active job quota of a project.
func (s *Service) SetProjectQuota(project string, n int) { s.apply(WithProjectQuota(project, n)) }

// JobSnapshot is a copy of a job and what it was launched with.
type JobSnapshot struct {
	Job         *dataflowpb.Job
	Template    string
	Parameters  map[string]string
	Environment *dataflowpb.FlexTemplateRuntimeEnvironment
}

// Jobs returns a copy of every job, oldest first, with states brought up to the clock.
func (s *Service) Jobs() []JobSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	out := make([]JobSnapshot, 0, len(s.jobs))
	for _, j := range s.sorted(false) {
		out = append(out, JobSnapshot{
			Job:         proto.CloneOf(j.pb),
			Template:    j.template,
			Parameters:  maps.Clone(j.params),
			Environment: proto.CloneOf(j.env),
		})
	}
	return out
}

// FailJob makes an active job fail, as a worker crash would.
func (s *Service) FailJob(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	j, ok := s.jobs[id]
	if !ok {
		return status.Errorf(codes.NotFound, "job %s not found", id)
	}
	if !isActive(j.pb.CurrentState) {
		return status.Errorf(codes.FailedPrecondition, "job %s is %s", id, j.pb.CurrentState)
	}
	s.fail(j, s.cfg.now(), "Workflow failed. (fakedataflow: FailJob)")
	return nil
}

// fail makes a job FAILED at a time with an error message.
func (s *Service) fail(j *job, at time.Time, message string) {
	s.setState(j, dataflowpb.JobState_JOB_STATE_FAILED, at)
	j.messages = append(j.messages, &dataflowpb.JobMessage{
		Id:                fmt.Sprintf("%s-%d", j.pb.Id, len(j.messages)+1),
		Time:              timestamppb.New(at),
		MessageText:       message,
		MessageImportance: dataflowpb.JobMessageImportance_JOB_MESSAGE_ERROR,
	})
}

// isActive reports whether a state counts as active for name uniqueness and quota.
func isActive(st dataflowpb.JobState) bool {
	switch st {
	case dataflowpb.JobState_JOB_STATE_DONE, dataflowpb.JobState_JOB_STATE_FAILED,
		dataflowpb.JobState_JOB_STATE_CANCELLED, dataflowpb.JobState_JOB_STATE_UPDATED,
		dataflowpb.JobState_JOB_STATE_DRAINED:
		return false
	}
	return true
}

// advance brings every job's state up to the clock, oldest job first. Callers hold mu.
func (s *Service) advance() {
	now := s.cfg.now()
	for _, j := range s.sorted(false) {
		switch j.pb.CurrentState {
		case dataflowpb.JobState_JOB_STATE_QUEUED, dataflowpb.JobState_JOB_STATE_PENDING:
			if !now.Before(j.runningAt) {
				s.start(j)
			} else if j.pb.CurrentState == dataflowpb.JobState_JOB_STATE_QUEUED && !now.Before(j.pendingAt) {
				s.setState(j, dataflowpb.JobState_JOB_STATE_PENDING, j.pendingAt)
			}
		case dataflowpb.JobState_JOB_STATE_DRAINING, dataflowpb.JobState_JOB_STATE_CANCELLING:
			if !now.Before(j.finishAt) {
				s.setState(j, j.finishWith, j.finishAt)
			}
		}
		// A batch job that ran is done at its finish time (start may just have made it
		// RUNNING).
		if j.pb.CurrentState == dataflowpb.JobState_JOB_STATE_RUNNING && j.pb.Type == dataflowpb.JobType_JOB_TYPE_BATCH && !now.Before(j.finishAt) {
			s.setState(j, dataflowpb.JobState_JOB_STATE_DONE, j.finishAt)
		}
	}
}

// start makes a job that reached its start time RUNNING, or FAILED when it was launched to
// fail. A replacement job that runs takes over: the job it replaces becomes UPDATED. A
// replacement that fails leaves the old job running.
func (s *Service) start(j *job) {
	if j.failWith != "" {
		s.fail(j, j.runningAt, j.failWith)
		return
	}
	s.setState(j, dataflowpb.JobState_JOB_STATE_RUNNING, j.runningAt)
	j.pb.StartTime = timestamppb.New(j.runningAt)
	if old, ok := s.jobs[j.pb.ReplaceJobId]; ok && old.pb.CurrentState == dataflowpb.JobState_JOB_STATE_RUNNING {
		s.setState(old, dataflowpb.JobState_JOB_STATE_UPDATED, j.runningAt)
		old.pb.ReplacedByJobId = j.pb.Id
	}
}

func (s *Service) setState(j *job, st dataflowpb.JobState, at time.Time) {
	j.pb.CurrentState = st
	j.pb.CurrentStateTime = timestamppb.New(at)
}

// sorted returns jobs by creation, newest first when newestFirst.
func (s *Service) sorted(newestFirst bool) []*job {
	js := slices.Collect(maps.Values(s.jobs))
	slices.SortFunc(js, func(a, b *job) int {
		if newestFirst {
			return int(b.seq - a.seq)
		}
		return int(a.seq - b.seq)
	})
	return js
}

func (s *Service) quota(project string) int {
	if n, ok := s.cfg.projectQuota[project]; ok {
		return n
	}
	return s.cfg.maxActive
}

var (
	jobNameRe    = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`) // and at most maxJobName characters
	labelKeyRe   = regexp.MustCompile(`^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$`)
	labelValueRe = regexp.MustCompile(`^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$`)
)

// maxJobName is the longest job name Dataflow accepts: jobs.proto's
// [a-z]([-a-z0-9]{0,1022}[a-z0-9])?.
const maxJobName = 1024

func validateLabels(labels map[string]string) error {
	if len(labels) > 64 {
		return status.Errorf(codes.InvalidArgument, "too many labels: %d, at most 64", len(labels))
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !labelKeyRe.MatchString(k) {
			return status.Errorf(codes.InvalidArgument, "invalid label key %q: keys start with a lowercase letter and hold at most 63 lowercase letters, digits, '_' or '-'", k)
		}
		if !labelValueRe.MatchString(labels[k]) {
			return status.Errorf(codes.InvalidArgument, "invalid value %q of label %q: values hold at most 63 lowercase letters, digits, '_' or '-'", labels[k], k)
		}
	}
	return nil
}

// LaunchFlexTemplate launches a job (or, with update, replaces a running one).
func (s *Service) LaunchFlexTemplate(_ context.Context, req *dataflowpb.LaunchFlexTemplateRequest) (*dataflowpb.LaunchFlexTemplateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	lp := req.GetLaunchParameter()
	switch {
	case req.GetProjectId() == "":
		return nil, status.Error(codes.InvalidArgument, "project_id is required")
	case req.GetLocation() == "":
		return nil, status.Error(codes.InvalidArgument, "location is required")
	case lp == nil:
		return nil, status.Error(codes.InvalidArgument, "launch_parameter is required")
	case !jobNameRe.MatchString(lp.GetJobName()) || len(lp.GetJobName()) > maxJobName:
		return nil, status.Errorf(codes.InvalidArgument,
			"(%s): Invalid job name %q: job names must match [a-z]([-a-z0-9]{0,1022}[a-z0-9])?", req.GetProjectId(), lp.GetJobName())
	}
	var template string
	switch {
	case lp.GetContainerSpecGcsPath() != "":
		template = lp.GetContainerSpecGcsPath()
		if !strings.HasPrefix(template, "gs://") {
			return nil, status.Errorf(codes.InvalidArgument, "container_spec_gcs_path %q is not a gs:// path", template)
		}
	case lp.GetContainerSpec() != nil:
		template = "(inline container spec)"
	default:
		return nil, status.Error(codes.InvalidArgument, "one of container_spec_gcs_path or container_spec is required")
	}
	if len(s.cfg.templates) > 0 {
		declared, ok := s.cfg.templates[template]
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "unable to read template file %s: not found", template)
		}
		for _, k := range slices.Sorted(maps.Keys(lp.GetParameters())) {
			if !slices.Contains(declared, k) {
				return nil, status.Errorf(codes.InvalidArgument, "the template parameters are invalid: unrecognized parameter %q", k)
			}
		}
	}
	labels := lp.GetEnvironment().GetAdditionalUserLabels()
	if err := validateLabels(labels); err != nil {
		return nil, err
	}
	if err := validateEnvironment(lp.GetEnvironment()); err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return &dataflowpb.LaunchFlexTemplateResponse{}, nil
	}

	// current is the newest active job of the name: during an update's handover, the
	// replacement.
	var current *job
	active := 0
	for _, j := range s.sorted(true) {
		if !isActive(j.pb.CurrentState) {
			continue
		}
		if j.pb.ProjectId == req.GetProjectId() {
			active++
			if j.pb.Location == req.GetLocation() && j.pb.Name == lp.GetJobName() && current == nil {
				current = j
			}
		}
	}
	now := s.cfg.now()
	if lp.GetUpdate() {
		if current == nil {
			return nil, status.Errorf(codes.NotFound, "(%s): Could not find a running job named %s in %s to update", req.GetProjectId(), lp.GetJobName(), req.GetLocation())
		}
		if current.pb.CurrentState != dataflowpb.JobState_JOB_STATE_RUNNING {
			return nil, status.Errorf(codes.FailedPrecondition, "(%s): job %s (%s) is %s; only a running job can be updated",
				req.GetProjectId(), lp.GetJobName(), current.pb.Id, current.pb.CurrentState)
		}
	} else {
		if current != nil {
			return nil, status.Errorf(codes.AlreadyExists,
				"(%s): There is already an active job named %s with id: %s. If you want to submit a second job, try again by setting a different name.",
				req.GetProjectId(), lp.GetJobName(), current.pb.Id)
		}
		if q := s.quota(req.GetProjectId()); active >= q {
			return nil, status.Errorf(codes.ResourceExhausted,
				"(%s): The workflow could not be created. Causes: Project %s has insufficient quota(s) to execute this workflow with 1 instances in region %s. Quota summary (required/available): %d/%d active jobs",
				req.GetProjectId(), req.GetProjectId(), req.GetLocation(), active+1, q)
		}
	}

	jobType := dataflowpb.JobType_JOB_TYPE_STREAMING
	if s.cfg.batchParam != "" && lp.GetParameters()[s.cfg.batchParam] != "" {
		jobType = dataflowpb.JobType_JOB_TYPE_BATCH
	}
	s.seq++
	id := fmt.Sprintf("%s-%019d", now.UTC().Format("2006-01-02_15_04_05"), 1_000_000_000_000_000_000+s.seq)
	j := &job{
		pb: &dataflowpb.Job{
			Id:               id,
			ProjectId:        req.GetProjectId(),
			Name:             lp.GetJobName(),
			Type:             jobType,
			CurrentState:     dataflowpb.JobState_JOB_STATE_QUEUED,
			CurrentStateTime: timestamppb.New(now),
			CreateTime:       timestamppb.New(now),
			Labels:           maps.Clone(labels),
			Location:         req.GetLocation(),
			Environment:      jobEnvironment(lp.GetEnvironment(), jobType, lp.GetParameters()),
		},
		seq:       s.seq,
		template:  template,
		params:    maps.Clone(lp.GetParameters()),
		env:       proto.CloneOf(lp.GetEnvironment()),
		runningAt: now.Add(s.cfg.startDelay),
		pendingAt: now.Add(s.cfg.startDelay / 2),
		failWith:  s.cfg.startFail[template],
	}
	if jobType == dataflowpb.JobType_JOB_TYPE_BATCH {
		j.finishAt, j.finishWith = j.runningAt.Add(s.cfg.batchRunTime), dataflowpb.JobState_JOB_STATE_DONE
	}
	if j.failWith == "" {
		j.failWith = s.placementFailure(req.GetProjectId(), lp.GetEnvironment())
	}
	if lp.GetUpdate() {
		j.pb.ReplaceJobId = current.pb.Id
		if s.cfg.incompatible[template] && j.failWith == "" {
			j.failWith = fmt.Sprintf("Workflow failed. Causes: The new job is not compatible with %s. "+
				"The original job has not been aborted. (fakedataflow: updates to %s are marked incompatible)", current.pb.Id, template)
		}
	}
	s.jobs[id] = j
	// Dataflow answers a launch with the new job's identity only: no state yet.
	return &dataflowpb.LaunchFlexTemplateResponse{Job: &dataflowpb.Job{
		Id: id, ProjectId: j.pb.ProjectId, Name: j.pb.Name, Location: j.pb.Location,
	}}, nil
}

// validateEnvironment refuses launch environments Dataflow refuses at launch.
func validateEnvironment(env *dataflowpb.FlexTemplateRuntimeEnvironment) error {
	switch {
	case env.GetWorkerRegion() != "" && env.GetWorkerZone() != "":
		return status.Error(codes.InvalidArgument, "worker_region and worker_zone are mutually exclusive")
	case env.GetZone() != "" && (env.GetWorkerRegion() != "" || env.GetWorkerZone() != ""):
		return status.Error(codes.InvalidArgument, "zone is deprecated and cannot be combined with worker_region or worker_zone")
	case env.GetStagingLocation() != "" && !strings.HasPrefix(env.GetStagingLocation(), "gs://"):
		return status.Errorf(codes.InvalidArgument, "staging_location %q is not a gs:// path", env.GetStagingLocation())
	case env.GetTempLocation() != "" && !strings.HasPrefix(env.GetTempLocation(), "gs://"):
		return status.Errorf(codes.InvalidArgument, "temp_location %q is not a gs:// path", env.GetTempLocation())
	case env.GetKmsKeyName() != "" && !kmsKeyRe.MatchString(env.GetKmsKeyName()):
		return status.Errorf(codes.InvalidArgument, "kms_key_name %q is not projects/P/locations/L/keyRings/R/cryptoKeys/K", env.GetKmsKeyName())
	}
	return nil
}

var kmsKeyRe = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

// placementFailure is the error a job fails with before it runs because of where its
// workers would go, "" when they can go there. Callers hold mu.
func (s *Service) placementFailure(project string, env *dataflowpb.FlexTemplateRuntimeEnvironment) string {
	network := env.GetNetwork()
	if network == "" {
		network = "default"
	}
	if nets := s.cfg.networks[project]; len(nets) > 0 && env.GetSubnetwork() == "" && !slices.Contains(nets, network) {
		return fmt.Sprintf("Workflow failed. Causes: Network %s is not accessible to Dataflow Service account or does not exist", network)
	}
	if s.cfg.noPublicIPs[project] && env.GetIpConfiguration() != dataflowpb.WorkerIPAddressConfiguration_WORKER_IP_PRIVATE {
		return "Workflow failed. Causes: Constraint constraints/compute.vmExternalIpAccess violated for project " + project +
			": external IPs are not allowed; launch with ip_configuration WORKER_IP_PRIVATE"
	}
	return ""
}

// jobEnvironment is how a job reports the environment it was launched with: Dataflow's
// Environment, the workers' settings in its one worker pool, the locations in the SDK
// pipeline options, and the template's parameters (the pipeline's flags) where Beam Go's
// Dataflow runner puts them: sdk_pipeline_options["beam:option:go_options:v1"].options.
// Streaming Engine is for streaming jobs only: a batch job ignores it.
func jobEnvironment(env *dataflowpb.FlexTemplateRuntimeEnvironment, jobType dataflowpb.JobType, params map[string]string) *dataflowpb.Environment {
	experiments := slices.Clone(env.GetAdditionalExperiments())
	if env.GetEnableStreamingEngine() && jobType == dataflowpb.JobType_JOB_TYPE_STREAMING && !slices.Contains(experiments, "enable_streaming_engine") {
		experiments = append(experiments, "enable_streaming_engine")
	}
	ip := env.GetIpConfiguration()
	zone := env.GetWorkerZone()
	if zone == "" {
		zone = env.GetZone()
	}
	options := map[string]any{}
	for k, v := range map[string]string{"tempLocation": env.GetTempLocation(), "stagingLocation": env.GetStagingLocation()} {
		if v != "" {
			options[k] = v
		}
	}
	goOptions := map[string]any{}
	for k, v := range params {
		goOptions[k] = v
	}
	sdk, _ := structpb.NewStruct(map[string]any{"options": options, "beam:option:go_options:v1": map[string]any{"options": goOptions}})
	return &dataflowpb.Environment{
		TempStoragePrefix:   env.GetTempLocation(),
		ServiceAccountEmail: env.GetServiceAccountEmail(),
		ServiceKmsKeyName:   env.GetKmsKeyName(),
		Experiments:         experiments,
		WorkerRegion:        env.GetWorkerRegion(),
		WorkerZone:          env.GetWorkerZone(),
		UsePublicIps:        ip != dataflowpb.WorkerIPAddressConfiguration_WORKER_IP_PRIVATE,
		SdkPipelineOptions:  sdk,
		WorkerPools: []*dataflowpb.WorkerPool{{
			Kind:                "harness",
			MachineType:         env.GetMachineType(),
			Network:             env.GetNetwork(),
			Subnetwork:          env.GetSubnetwork(),
			IpConfiguration:     ip,
			Zone:                zone,
			AutoscalingSettings: &dataflowpb.AutoscalingSettings{MaxNumWorkers: env.GetMaxWorkers()},
		}},
	}
}

// summary is what ListJobs returns of a job (JOB_VIEW_SUMMARY).
func summary(pb *dataflowpb.Job) *dataflowpb.Job {
	return &dataflowpb.Job{
		Id:               pb.Id,
		ProjectId:        pb.ProjectId,
		Name:             pb.Name,
		Type:             pb.Type,
		CurrentState:     pb.CurrentState,
		CurrentStateTime: pb.CurrentStateTime,
		CreateTime:       pb.CreateTime,
		StartTime:        pb.StartTime,
		Location:         pb.Location,
	}
}

func (s *Service) lookup(project, location, id string) (*job, error) {
	j, ok := s.jobs[id]
	if !ok || j.pb.ProjectId != project || (location != "" && j.pb.Location != location) {
		return nil, status.Errorf(codes.NotFound, "(%s): Job %s not found in %s", project, id, location)
	}
	return j, nil
}

// jobRequest is a request that names one job.
type jobRequest interface {
	GetProjectId() string
	GetLocation() string
	GetJobId() string
}

// requested brings the states up to the clock and returns the job a request names.
// Callers hold mu.
func (s *Service) requested(req jobRequest) (*job, error) {
	s.advance()
	if req.GetProjectId() == "" || req.GetJobId() == "" {
		return nil, status.Error(codes.InvalidArgument, "project_id and job_id are required")
	}
	return s.lookup(req.GetProjectId(), req.GetLocation(), req.GetJobId())
}

// GetJob returns a job.
func (s *Service) GetJob(_ context.Context, req *dataflowpb.GetJobRequest) (*dataflowpb.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.requested(req)
	if err != nil {
		return nil, err
	}
	if req.GetView() == dataflowpb.JobView_JOB_VIEW_SUMMARY {
		return summary(j.pb), nil
	}
	return proto.CloneOf(j.pb), nil
}

// ListJobs lists the jobs of a project in a location.
func (s *Service) ListJobs(_ context.Context, req *dataflowpb.ListJobsRequest) (*dataflowpb.ListJobsResponse, error) {
	return s.list(req, true)
}

// AggregatedListJobs lists the jobs of a project in every location.
func (s *Service) AggregatedListJobs(_ context.Context, req *dataflowpb.ListJobsRequest) (*dataflowpb.ListJobsResponse, error) {
	if req.Name != nil {
		return nil, status.Error(codes.InvalidArgument, "filtering by name is not supported by projects.jobs.aggregated")
	}
	return s.list(req, false)
}

func (s *Service) list(req *dataflowpb.ListJobsRequest, byLocation bool) (*dataflowpb.ListJobsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	if req.GetProjectId() == "" {
		return nil, status.Error(codes.InvalidArgument, "project_id is required")
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > s.cfg.pageSize {
		size = s.cfg.pageSize
	}
	after := int64(-1)
	if tok := req.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, perr := strconv.ParseInt(strings.TrimPrefix(string(b), "seq:"), 10, 64)
		if err != nil || perr != nil || !strings.HasPrefix(string(b), "seq:") {
			return nil, status.Errorf(codes.InvalidArgument, "invalid page token %q", tok)
		}
		after = n
	}
	resp := &dataflowpb.ListJobsResponse{}
	for _, j := range s.sorted(true) {
		if after >= 0 && j.seq >= after {
			continue
		}
		pb := j.pb
		if pb.ProjectId != req.GetProjectId() ||
			(byLocation && req.GetLocation() != "" && pb.Location != req.GetLocation()) ||
			(req.Name != nil && pb.Name != req.GetName()) {
			continue
		}
		switch req.GetFilter() {
		case dataflowpb.ListJobsRequest_ACTIVE:
			if !isActive(pb.CurrentState) {
				continue
			}
		case dataflowpb.ListJobsRequest_TERMINATED:
			if isActive(pb.CurrentState) {
				continue
			}
		}
		if len(resp.Jobs) == size {
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("seq:%d", s.seqOf(resp.Jobs[size-1].Id))))
			break
		}
		resp.Jobs = append(resp.Jobs, summary(pb))
	}
	return resp, nil
}

func (s *Service) seqOf(id string) int64 { return s.jobs[id].seq }

// UpdateJob drains or cancels a job (requested_state JOB_STATE_DRAINED or
// JOB_STATE_CANCELLED), or, with an update mask, changes its runtime-updatable parameters.
func (s *Service) UpdateJob(_ context.Context, req *dataflowpb.UpdateJobRequest) (*dataflowpb.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	if req.GetProjectId() == "" || req.GetJobId() == "" || req.GetJob() == nil {
		return nil, status.Error(codes.InvalidArgument, "project_id, job_id and job are required")
	}
	j, err := s.lookup(req.GetProjectId(), req.GetLocation(), req.GetJobId())
	if err != nil {
		return nil, err
	}
	now := s.cfg.now()
	st := j.pb.CurrentState
	if !isActive(st) {
		return nil, status.Errorf(codes.FailedPrecondition, "(%s): Job has terminated in state %s: %s", req.GetProjectId(), st, j.pb.Id)
	}
	if len(req.GetUpdateMask().GetPaths()) > 0 {
		if want := req.GetJob().GetRequestedState(); want != dataflowpb.JobState_JOB_STATE_UNKNOWN {
			return nil, status.Errorf(codes.InvalidArgument, "(%s): requested_state %s and update_mask cannot be given together: a job's state and its runtime parameters are updated by separate requests", req.GetProjectId(), want)
		}
		if err := s.updateRuntimeParams(req, j); err != nil {
			return nil, err
		}
		return proto.CloneOf(j.pb), nil
	}
	switch want := req.GetJob().GetRequestedState(); want {
	case dataflowpb.JobState_JOB_STATE_DRAINED, dataflowpb.JobState_JOB_STATE_DRAINING:
		switch st {
		case dataflowpb.JobState_JOB_STATE_DRAINING:
		case dataflowpb.JobState_JOB_STATE_RUNNING:
			if j.pb.Type == dataflowpb.JobType_JOB_TYPE_BATCH {
				return nil, status.Errorf(codes.FailedPrecondition, "(%s): Job %s is a batch job; only streaming jobs can be drained (cancel it instead)", req.GetProjectId(), j.pb.Id)
			}
			s.setState(j, dataflowpb.JobState_JOB_STATE_DRAINING, now)
			j.finishAt, j.finishWith = now.Add(s.cfg.drainDelay), dataflowpb.JobState_JOB_STATE_DRAINED
		default:
			return nil, status.Errorf(codes.FailedPrecondition, "(%s): Job %s is %s; only a running job can be drained", req.GetProjectId(), j.pb.Id, st)
		}
		j.pb.RequestedState = dataflowpb.JobState_JOB_STATE_DRAINED
	case dataflowpb.JobState_JOB_STATE_CANCELLED, dataflowpb.JobState_JOB_STATE_CANCELLING:
		if st == dataflowpb.JobState_JOB_STATE_QUEUED {
			return nil, status.Errorf(codes.FailedPrecondition, "(%s): Job %s is not yet ready for canceling. Please retry in a few minutes.", req.GetProjectId(), j.pb.Id)
		}
		if st != dataflowpb.JobState_JOB_STATE_CANCELLING {
			s.setState(j, dataflowpb.JobState_JOB_STATE_CANCELLING, now)
			j.finishAt, j.finishWith = now.Add(s.cfg.cancelDelay), dataflowpb.JobState_JOB_STATE_CANCELLED
		}
		j.pb.RequestedState = dataflowpb.JobState_JOB_STATE_CANCELLED
	default:
		return nil, status.Errorf(codes.InvalidArgument, "fakedataflow: requested_state %s is not supported (only JOB_STATE_DRAINED and JOB_STATE_CANCELLED)", want)
	}
	s.advance()
	return proto.CloneOf(j.pb), nil
}

// ListJobMessages returns a job's messages, oldest first, at or above the minimum
// importance. Only failures write messages in the fake.
func (s *Service) ListJobMessages(_ context.Context, req *dataflowpb.ListJobMessagesRequest) (*dataflowpb.ListJobMessagesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.requested(req)
	if err != nil {
		return nil, err
	}
	resp := &dataflowpb.ListJobMessagesResponse{}
	for _, m := range j.messages {
		if m.GetMessageImportance() >= req.GetMinimumImportance() {
			resp.JobMessages = append(resp.JobMessages, proto.CloneOf(m))
		}
	}
	return resp, nil
}
