package fakedataflow

import (
	"slices"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Update mask paths of the runtime-updatable parameters (RuntimeUpdatableParams in
// google/dataflow/v1beta3/jobs.proto), the ones gcloud dataflow jobs update-options sends.
const (
	MaskMaxNumWorkers         = "runtime_updatable_params.max_num_workers"
	MaskMinNumWorkers         = "runtime_updatable_params.min_num_workers"
	MaskWorkerUtilizationHint = "runtime_updatable_params.worker_utilization_hint"
)

// maxWorkersLimit is Dataflow's ceiling on a job's workers (max_workers "from 1 to 1000").
const maxWorkersLimit = 1000

// updateRuntimeParams applies an UpdateJob request with an update mask: the autoscaling
// bounds of a RUNNING Streaming Engine job, in place (same job id, no new job). Callers
// hold mu and have checked that the job is active.
func (s *Service) updateRuntimeParams(req *dataflowpb.UpdateJobRequest, j *job) error {
	project := req.GetProjectId()
	in := req.GetJob().GetRuntimeUpdatableParams()
	for _, p := range req.GetUpdateMask().GetPaths() {
		if !slices.Contains([]string{MaskMaxNumWorkers, MaskMinNumWorkers, MaskWorkerUtilizationHint}, p) {
			return status.Errorf(codes.InvalidArgument, "(%s): update_mask path %q cannot be updated; only %s, %s and %s can",
				project, p, MaskMaxNumWorkers, MaskMinNumWorkers, MaskWorkerUtilizationHint)
		}
	}
	if !slices.Contains(j.pb.GetEnvironment().GetExperiments(), "enable_streaming_engine") {
		return status.Errorf(codes.FailedPrecondition, "(%s): job %s does not use Streaming Engine; runtime parameters can only be updated for Streaming Engine jobs", project, j.pb.Id)
	}
	if st := j.pb.CurrentState; st != dataflowpb.JobState_JOB_STATE_RUNNING {
		return status.Errorf(codes.FailedPrecondition, "(%s): job %s is %s; runtime parameters can only be updated for a running job", project, j.pb.Id, st)
	}
	next := proto.CloneOf(j.pb.GetRuntimeUpdatableParams())
	if next == nil {
		next = &dataflowpb.RuntimeUpdatableParams{}
		if pools := j.pb.GetEnvironment().GetWorkerPools(); len(pools) > 0 {
			if m := pools[0].GetAutoscalingSettings().GetMaxNumWorkers(); m > 0 {
				next.MaxNumWorkers = proto.Int32(m)
			}
		}
	}
	for _, p := range req.GetUpdateMask().GetPaths() {
		switch p {
		case MaskMaxNumWorkers:
			if in == nil || in.MaxNumWorkers == nil {
				return status.Errorf(codes.InvalidArgument, "(%s): %s is in the update mask but not set", project, p)
			}
			next.MaxNumWorkers = proto.Int32(in.GetMaxNumWorkers())
		case MaskMinNumWorkers:
			if in == nil || in.MinNumWorkers == nil {
				return status.Errorf(codes.InvalidArgument, "(%s): %s is in the update mask but not set", project, p)
			}
			next.MinNumWorkers = proto.Int32(in.GetMinNumWorkers())
		case MaskWorkerUtilizationHint:
			// Unset in the request with the path in the mask clears the hint, as
			// gcloud's --unset-worker-utilization-hint does.
			if in == nil || in.WorkerUtilizationHint == nil {
				next.WorkerUtilizationHint = nil
				continue
			}
			if h := in.GetWorkerUtilizationHint(); h < 0.1 || h > 0.9 {
				return status.Errorf(codes.InvalidArgument, "(%s): worker_utilization_hint %v is outside [0.1, 0.9]", project, h)
			}
			next.WorkerUtilizationHint = proto.Float64(in.GetWorkerUtilizationHint())
		}
	}
	switch maxW, minW := next.GetMaxNumWorkers(), next.GetMinNumWorkers(); {
	case next.MaxNumWorkers != nil && (maxW < 1 || maxW > maxWorkersLimit):
		return status.Errorf(codes.InvalidArgument, "(%s): max_num_workers %d is outside [1, %d]", project, maxW, maxWorkersLimit)
	case next.MinNumWorkers != nil && (minW < 1 || minW > maxWorkersLimit):
		return status.Errorf(codes.InvalidArgument, "(%s): min_num_workers %d is outside [1, %d]", project, minW, maxWorkersLimit)
	case next.MaxNumWorkers != nil && next.MinNumWorkers != nil && minW > maxW:
		return status.Errorf(codes.InvalidArgument, "(%s): min_num_workers %d is greater than max_num_workers %d", project, minW, maxW)
	}
	j.pb.RuntimeUpdatableParams = next
	if pools := j.pb.GetEnvironment().GetWorkerPools(); len(pools) > 0 && next.MaxNumWorkers != nil {
		pools[0].AutoscalingSettings = &dataflowpb.AutoscalingSettings{Algorithm: pools[0].GetAutoscalingSettings().GetAlgorithm(), MaxNumWorkers: next.GetMaxNumWorkers()}
	}
	return nil
}
