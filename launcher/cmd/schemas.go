package cmd

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/pubsubschema"
)

// checkSchemas is validate --schemas: every reader schema against the revisions its topic
// accepts, read from Pub/Sub (PUBSUB_EMULATOR_HOST honoured).
func checkSchemas(ctx context.Context, f *fleet.Fleet, env Env, logger *slog.Logger) ([]fleet.Problem, error) {
	host := emulatorHost(env, logger, "PUBSUB_EMULATOR_HOST", "Pub/Sub")
	src, err := pubsubschema.Open(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("validate --schemas: %w", err)
	}
	defer src.Close()
	problems, err := f.CheckSchemas(ctx, src)
	if err != nil {
		where := "Pub/Sub"
		if host != "" {
			where = "the Pub/Sub emulator at " + host
		}
		return nil, fmt.Errorf("validate --schemas: %w (is %s reachable? the schemas were not checked)", err, where)
	}
	return problems, nil
}
