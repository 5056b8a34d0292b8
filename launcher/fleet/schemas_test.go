package fleet_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// listedSource is a fleet.SchemaSource of one topic and one schema whose revisions it lists
// newest first, as Pub/Sub's API does (pstest lists them oldest first).
type listedSource struct {
	topic fleet.TopicSchema
	revs  []fleet.SchemaRevision
	err   error
}

func (s listedSource) TopicSchema(context.Context, string) (fleet.TopicSchema, error) {
	return s.topic, s.err
}

func (s listedSource) Revisions(context.Context, string) ([]fleet.SchemaRevision, error) {
	return s.revs, nil
}

// TestCheckSchemas checks CheckSchemas' ranges on revisions listed newest first: the
// bounds are taken in creation order, a reversed range accepts nothing, and an error of
// the source stops the check naming the event type.
func TestCheckSchemas(t *testing.T) {
	const content = launchertest.FleetHead + `  - name: play-event
    subscription: projects/my-project/subscriptions/play-event
    schema: schemas/r1.avsc
    schema_revisions: gs://b/schemas/play-event/
`
	path := writeFleet(t, content)
	defs := launchertest.Revisions(t)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "schemas", "r1.avsc"), []byte(defs["r1"]), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	revs := []fleet.SchemaRevision{ // newest first
		{ID: "c3", Definition: defs["r3"], Created: t0.Add(2 * time.Hour)},
		{ID: "b2", Definition: defs["r2"], Created: t0.Add(time.Hour)},
		{ID: "a1", Definition: defs["r1"], Created: t0},
	}
	const schema = "projects/my-project/schemas/play-event"
	topic := func(first, last string) fleet.TopicSchema {
		return fleet.TopicSchema{Topic: "projects/my-project/topics/t", Schema: schema, FirstRevision: first, LastRevision: last}
	}
	for _, tc := range []struct {
		name  string
		topic fleet.TopicSchema
		want  []string // problems, each a substring
	}{
		{"only the oldest", topic("", "a1"), nil},
		{"up to the second", topic("", "b2"), []string{":12: event_types[0].schema: schema schemas/r1.avsc cannot read revision b2 of "}},
		{"all", topic("", ""), []string{"cannot read revision b2 ", "cannot read revision c3 "}},
		{"reversed", topic("c3", "a1"), []string{"accepts no revision of " + schema + ": first_revision_id c3 is newer than last_revision_id a1"}},
		{"no topic schema", fleet.TopicSchema{Topic: "projects/my-project/topics/t"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, err := f.CheckSchemas(context.Background(), listedSource{topic: tc.topic, revs: revs})
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != len(tc.want) {
				t.Fatalf("got %d problems, want %d: %v", len(problems), len(tc.want), problems)
			}
			for i, w := range tc.want {
				if !strings.Contains(problems[i].String(), w) {
					t.Errorf("problem %d: %s, want %q in it", i, problems[i], w)
				}
			}
		})
	}
	_, err = f.CheckSchemas(context.Background(), listedSource{err: errors.New("connection refused")})
	if err == nil || !strings.Contains(err.Error(), ":12: event_types[0].schema: subscription projects/my-project/subscriptions/play-event: connection refused") {
		t.Errorf("source error: %v", err)
	}
}
