package alerts_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventdelivery/eventdelivery/launcher/alerts"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// realisticFleet writes a fleet of n event types with names and subscription ids of 30+
// characters, as production names are; every override-th event type (0: none) gets its
// own system lag threshold.
func (e *env) realisticFleet(t *testing.T, n, override int) *fleet.Fleet {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(e.dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "schemas", "event.avsc"), []byte(launchertest.PlayTrackSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fleet: events-prod\nversion: v1.0.0\ntemplate: gs://bucket/eventdelivery/{version}/spec.json\n")
	fmt.Fprintf(&b, "defaults:\n  project: data-prod-1\n  region: europe-west1\n  output: gs://bucket/raw\n  temp_location: gs://bucket/tmp\n")
	fmt.Fprintf(&b, "  max_active_jobs_per_project: 1000\n  alerts:\n    project: %s\n    notification_channels: [%s]\nevent_types:\n", monProject, e.ch)
	for i := range n {
		name := fmt.Sprintf("mobile-app-playback-track-started-%03d", i)
		fmt.Fprintf(&b, "  - name: %s\n    subscription: projects/data-prod-1/subscriptions/prod-%s-delivery\n    schema: schemas/event.avsc\n", name, name)
		if override > 0 && i%override == 0 {
			b.WriteString("    alerts: {system_lag: 20m}\n")
		}
	}
	path := filepath.Join(e.dir, "fleet.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return launchertest.LoadFile(t, path)
}

// A 300-type fleet with realistic names fits Cloud Monitoring's limits: every filter is at
// most 2,048 characters, the fake (which enforces the limits) accepts every policy, and
// each event type is watched by exactly one policy per signal.
func TestPoliciesFitTheLimitsFor300RealisticNames(t *testing.T) {
	for _, override := range []int{0, 4} { // 4: 75 event types override system lag
		t.Run(fmt.Sprintf("override every %d", override), func(t *testing.T) {
			e := setup(t)
			f := e.realisticFleet(t, 300, override)
			desired, err := alerts.Desired(f)
			if err != nil {
				t.Fatal(err)
			}
			watched := map[alerts.Signal]map[string]int{}
			longest := 0
			for _, p := range desired {
				if watched[p.Signal] == nil {
					watched[p.Signal] = map[string]int{}
				}
				for _, et := range p.EventTypes {
					watched[p.Signal][et]++
				}
				for _, c := range p.Spec.GetConditions() {
					for _, filter := range []string{c.GetConditionThreshold().GetFilter(), c.GetConditionAbsent().GetFilter()} {
						longest = max(longest, utf8.RuneCountInString(filter))
					}
				}
			}
			if longest > alerts.MaxFilterLength || longest < 1500 {
				t.Errorf("longest filter %d characters; want close to, and at most, %d", longest, alerts.MaxFilterLength)
			}
			for sig, ets := range watched {
				if len(ets) != 300 && sig != alerts.Drift {
					t.Errorf("%s: %d event types watched, want 300", sig, len(ets))
				}
				for et, n := range ets {
					if n != 1 {
						t.Errorf("%s: %s in %d policies", sig, et, n)
					}
				}
			}
			p := e.apply(t, f)
			if got := len(e.srv.AlertPolicies(monProject)); got != len(desired) || p.Counts().Create != len(desired) {
				t.Errorf("%d policies stored, %d desired", got, len(desired))
			}
			t.Logf("%d policies, longest filter %d characters", len(desired), longest)
			if p := e.plan(t, f); p.HasChanges() {
				t.Errorf("second plan: %s", p.Summary())
			}
		})
	}
}
