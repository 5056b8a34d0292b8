// Package schemaservice serves Pub/Sub's schema service in-process for tests: Google's
// pstest, which has one (the Cloud SDK's emulator has none), reached through
// PUBSUB_EMULATOR_HOST as the pipeline reaches the real service.
package schemaservice

import (
	"context"
	"strings"
	"testing"

	pubsub "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Start starts pstest for the test and points PUBSUB_EMULATOR_HOST at it until the test
// ends (so the test must not be parallel).
func Start(t testing.TB) *pstest.Server {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() { srv.Close() })
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	return srv
}

// Commit creates the Avro schema name (projects/P/schemas/S) on srv with the revisions defs,
// committed in order, and returns their revision ids in the same order: the last is the
// schema's newest.
func Commit(t testing.TB, srv *pstest.Server, name string, defs ...string) []string {
	t.Helper()
	ctx := context.Background()
	admin, err := pubsub.NewSchemaClient(ctx, option.WithGRPCConn(dial(t, srv)))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	parent, id, _ := strings.Cut(name, "/schemas/")
	var ids []string
	for i, d := range defs {
		def := &pubsubpb.Schema{Type: pubsubpb.Schema_AVRO, Definition: d}
		var s *pubsubpb.Schema
		if i == 0 {
			s, err = admin.CreateSchema(ctx, &pubsubpb.CreateSchemaRequest{Parent: parent, SchemaId: id, Schema: def})
		} else {
			def.Name = name
			s, err = admin.CommitSchema(ctx, &pubsubpb.CommitSchemaRequest{Name: name, Schema: def})
		}
		if err != nil {
			t.Fatalf("schema %s, revision %d: %v", name, i+1, err)
		}
		ids = append(ids, s.RevisionId)
	}
	return ids
}

// Topic creates topic (projects/P/topics/T) on srv with the schema settings ss (none when
// nil), and the subscription sub (projects/P/subscriptions/S) on it.
func Topic(t testing.TB, srv *pstest.Server, topic, sub string, ss *pubsubpb.SchemaSettings) {
	t.Helper()
	ctx := context.Background()
	conn := dial(t, srv)
	topics, err := pubsub.NewTopicAdminClient(ctx, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	subs, err := pubsub.NewSubscriptionAdminClient(ctx, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topics.CreateTopic(ctx, &pubsubpb.Topic{Name: topic, SchemaSettings: ss}); err != nil {
		t.Fatalf("topic %s: %v", topic, err)
	}
	if _, err := subs.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic}); err != nil {
		t.Fatalf("subscription %s: %v", sub, err)
	}
}

// dial connects to srv until the test ends.
func dial(t testing.TB, srv *pstest.Server) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
