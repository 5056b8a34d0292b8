package status

import (
	"context"
	"fmt"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/monitoring"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
)

// PublishAfterDeploy observes the fleet as a deploy left it and publishes the launcher's
// metrics ([Report.Publish]). A job that failed before it ran writes no Dataflow metric,
// and one whose launch call failed has no job at all; both then count as failed or
// missing in the launcher's own metric, on which the fleet's drift policy alerts, even
// where no scheduled `status --publish-metrics` runs. Call it after a deploy that waited,
// so that jobs have failed or run.
func PublishAfterDeploy(ctx context.Context, api dataflow.API, mon monitoring.API, project string, f *fleet.Fleet, parallelism int, now time.Time) (*Report, error) {
	obs, err := plan.Observe(ctx, api, f, parallelism)
	if err != nil {
		return nil, fmt.Errorf("publish after deploy: %w", err)
	}
	r := Build(f, obs)
	if err := r.Publish(ctx, mon, project, now); err != nil {
		return nil, fmt.Errorf("publish after deploy: %w", err)
	}
	return r, nil
}
