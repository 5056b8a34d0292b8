// Package pubsubschema reads Pub/Sub's schema settings and schema revisions with Google's
// Pub/Sub client, for `launcher validate --schemas` (fleet.SchemaSource). It links no Beam.
package pubsubschema

import (
	"context"
	"fmt"

	pubsub "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/eventdelivery/eventdelivery/internal/revisions"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
)

// Source is a fleet.SchemaSource over Pub/Sub's admin and schema APIs.
type Source struct {
	clients *gcpclient.Clients
	subs    *pubsub.SubscriptionAdminClient
	topics  *pubsub.TopicAdminClient
	schemas *pubsub.SchemaClient
}

var _ fleet.SchemaSource = (*Source)(nil)

// Open connects to Pub/Sub: to emulatorHost over plain gRPC without credentials when it is
// set (PUBSUB_EMULATOR_HOST, e.g. Google's pstest), else with Application Default
// Credentials. Close it when done.
func Open(ctx context.Context, emulatorHost string) (*Source, error) {
	return gcpclient.Open(ctx, revisions.ClientOptions(emulatorHost), func(cs *gcpclient.Clients) *Source {
		return &Source{
			clients: cs,
			subs:    gcpclient.Dial(cs, "pubsub: subscription client", pubsub.NewSubscriptionAdminClient),
			topics:  gcpclient.Dial(cs, "pubsub: topic client", pubsub.NewTopicAdminClient),
			schemas: gcpclient.Dial(cs, "pubsub: schema client", pubsub.NewSchemaClient),
		}
	})
}

// Close closes the clients.
func (s *Source) Close() error {
	return s.clients.Close()
}

// TopicSchema reads the subscription, then its topic's schema settings.
func (s *Source) TopicSchema(ctx context.Context, subscription string) (fleet.TopicSchema, error) {
	sub, err := s.subs.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: subscription})
	if err != nil {
		return fleet.TopicSchema{}, fmt.Errorf("get subscription: %w", notFound(err))
	}
	t, err := s.topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: sub.Topic})
	if err != nil {
		return fleet.TopicSchema{}, fmt.Errorf("get topic %s: %w", sub.Topic, notFound(err))
	}
	ts := fleet.TopicSchema{Topic: t.Name}
	if ss := t.SchemaSettings; ss != nil && ss.Schema != "" && ss.Schema != "_deleted-schema_" {
		ts.Schema, ts.FirstRevision, ts.LastRevision = ss.Schema, ss.FirstRevisionId, ss.LastRevisionId
	}
	return ts, nil
}

// Revisions lists every revision of the schema, with its definition.
func (s *Source) Revisions(ctx context.Context, schema string) ([]fleet.SchemaRevision, error) {
	all, err := revisions.List(ctx, s.schemas, schema)
	return all, notFound(err)
}

// notFound wraps fleet.ErrNotFound into a NotFound status, so that the fleet reports a
// subscription, topic or schema that does not exist as a problem of the file.
func notFound(err error) error {
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%w (%w)", fleet.ErrNotFound, err)
	}
	return err
}
