package fleet

import "github.com/eventdelivery/eventdelivery/output"

// OutputTarget returns where the job's buckets live and their geometry, as the pipeline
// reads its flags: every command that reads a job's output (status --health, hours)
// builds the target here, so that they all read the same folders.
func (j Job) OutputTarget() output.Target {
	return output.Target{
		Root:      j.Parameters[ParamOutput],
		EventType: j.EventType,
		Layout:    output.Layout{Width: j.BucketWidth(), Skew: j.SkewTolerance()},
	}
}
