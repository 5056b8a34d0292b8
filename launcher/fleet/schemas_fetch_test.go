package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// concurrentSource holds each TopicSchema call until SchemaParallelism of them are in
// flight together, and counts the calls.
type concurrentSource struct {
	def      string
	mu       sync.Mutex
	calls    map[string]int
	arrived  int
	together chan struct{} // closed once SchemaParallelism calls are in flight
}

func (s *concurrentSource) count(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[key]++
}

func (s *concurrentSource) TopicSchema(ctx context.Context, sub string) (fleet.TopicSchema, error) {
	s.count(sub)
	s.mu.Lock()
	if s.arrived++; s.arrived == fleet.SchemaParallelism {
		close(s.together)
	}
	s.mu.Unlock()
	select {
	case <-s.together:
	case <-time.After(30 * time.Second): // a guard: calls made one after the other never meet
		return fleet.TopicSchema{}, errors.New("the calls were not made at once")
	}
	return fleet.TopicSchema{Topic: strings.Replace(sub, "subscriptions", "topics", 1)}, nil
}

func (s *concurrentSource) Revisions(_ context.Context, schema string) ([]fleet.SchemaRevision, error) {
	s.count(schema)
	return []fleet.SchemaRevision{{ID: "a1", Definition: s.def, Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}}, nil
}

// A fleet of many event types is checked with its Pub/Sub calls made at once
// (SchemaParallelism together), each subscription and each schema asked once.
func TestCheckSchemasCallsAtOnce(t *testing.T) {
	const n = 40
	const schema = "projects/my-project/schemas/play-event"
	content := launchertest.FleetHead
	for i := range n {
		content += fmt.Sprintf("  - name: type-%d\n    subscription: projects/my-project/subscriptions/type-%d\n    schema: %s\n", i, i, schema)
	}
	f, err := fleet.Load(writeFleet(t, content))
	if err != nil {
		t.Fatal(err)
	}
	src := &concurrentSource{def: launchertest.PlayTrackSchema, calls: map[string]int{}, together: make(chan struct{})}
	problems, err := f.CheckSchemas(context.Background(), src)
	if err != nil || len(problems) != 0 {
		t.Fatalf("CheckSchemas: %v, %v", problems, err)
	}
	if len(src.calls) != n+1 {
		t.Errorf("asked about %d subscriptions and schemas, want %d", len(src.calls), n+1)
	}
	for key, c := range src.calls {
		if c != 1 {
			t.Errorf("%s asked %d times, want once", key, c)
		}
	}
}
