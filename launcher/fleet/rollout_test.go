package fleet_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

func loadWith(t *testing.T, n int, extra string) (*fleet.Fleet, error) {
	t.Helper()
	path, err := launchertest.Write(t.TempDir(), launchertest.Spec{EventTypes: n, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	return fleet.Load(path)
}

func TestRolloutWaves(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  string
	}{
		{"", "[0 1 2 3 4 5 6 7 8 9]"},
		{"rollout:\n  canaries: [type-007, type-002]\n  waves: [3, 50%]\n", "[7 2] [0 1 3] [4 5 6 8 9]"},
		{"rollout:\n  canaries: 15%\n  waves: [1]\n", "[0 1] [2] [3] [4] [5] [6] [7] [8] [9]"},
		{"rollout:\n  waves: [25%, 100%]\n", "[0 1 2] [3 4 5 6 7 8 9]"},
	} {
		f, err := loadWith(t, 10, tc.extra)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range f.Waves() {
			var idx []string
			for _, n := range w {
				var i int
				fmt.Sscanf(n, "type-%d", &i)
				idx = append(idx, fmt.Sprint(i))
			}
			got = append(got, fmt.Sprint(idx))
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("%q: waves %s, want %s", tc.extra, s, tc.want)
		}
	}
}

func TestRolloutSettings(t *testing.T) {
	f, err := loadWith(t, 3, "  alerts: {system_lag: 20m}\nrollout:\n  canaries: [type-001]\n  soak: 20m\n  gate: {data_freshness: 15m, dead_letters_per_minute: off}\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Rollout.Soak != 20*time.Minute {
		t.Errorf("soak %s", f.Rollout.Soak)
	}
	g := f.GateAlerts(f.Jobs()[0])
	if g.SystemLag != 20*time.Minute || g.DataFreshness != 15*time.Minute || g.DeadLettersPerMinute != 0 || g.ClosedHourMargin != 30*time.Minute {
		t.Errorf("gate %+v", g)
	}
	_, err = loadWith(t, 3, "rollout:\n  canaries: [type-009, type-001, type-001]\n  waves: [0, 120%]\n  soak: soon\n  gate: {system_lag: 90s, colour: red}\n  speed: 3\n")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`rollout.canaries[0]: "type-009" is not an event type of this file`,
		`rollout.canaries[2]: duplicate canary "type-001"`,
		`rollout.waves[0]: "0": want a positive number`,
		`rollout.waves[1]: "120%": want a positive number`,
		`rollout.soak: "soon" is not a duration`,
		`rollout.gate.system_lag: "90s" must be whole minutes`,
		`rollout.gate.colour: unknown key`,
		`rollout.speed: unknown key`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%s", want, err)
		}
	}
}

func TestVersionLabelRoundTrip(t *testing.T) {
	for _, v := range []string{"v1.4.2", "v1.5.0-rc.1", "V2+build.7", "2026_03_01"} {
		enc, ok := fleet.EncodeVersionLabel(v)
		if !ok || fleet.DecodeVersionLabel(enc) != v {
			t.Errorf("%q → %q (%v) → %q", v, enc, ok, fleet.DecodeVersionLabel(enc))
		}
	}
	if enc, _ := fleet.EncodeVersionLabel("v1.4.2"); enc != "v1_4_2" {
		t.Errorf("v1.4.2 → %q", enc)
	}
}
