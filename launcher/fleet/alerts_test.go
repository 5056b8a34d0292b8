package fleet_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
)

func TestAlertSettingsMergeAndDefaults(t *testing.T) {
	content := strings.Replace(good, "  max_active_jobs_per_project: 25\n", `  max_active_jobs_per_project: 25
  alerts:
    project: mon-project
    notification_channels: [projects/mon-project/notificationChannels/123]
    system_lag: 15m
    dead_letters_per_minute: 2.5
    drift: 1h
`, 1) + "    alerts: {system_lag: 1h, backlog: \"off\", notification_channels: []}\n"
	f := loadFleet(t, content)
	if f.AlertsProject() != "mon-project" || f.DriftAfter() != time.Hour {
		t.Errorf("project %q drift %v", f.AlertsProject(), f.DriftAfter())
	}
	jobs := f.Jobs()
	a, b := jobs[0].Alerts, jobs[1].Alerts
	if a.SystemLag != 15*time.Minute || a.DataFreshness != fleet.DefaultAlertDataFreshness || a.DeadLettersPerMinute != 2.5 ||
		a.Backlog != fleet.DefaultAlertBacklog || len(a.Channels) != 1 || a.For != fleet.DefaultAlertFor {
		t.Errorf("defaults: %+v", a)
	}
	if b.SystemLag != time.Hour || b.Backlog != 0 || len(b.Channels) != 0 || b.DeadLettersPerMinute != 2.5 {
		t.Errorf("override: %+v", b)
	}
	// Alert settings are not part of the job's configuration.
	plain := loadFleet(t, good)
	if plain.Jobs()[0].ConfigHash != jobs[0].ConfigHash {
		t.Error("alert settings changed the config hash")
	}
}

func TestAlertSettingsValidation(t *testing.T) {
	content := strings.Replace(good, "  max_active_jobs_per_project: 25\n", `  max_active_jobs_per_project: 25
  alerts:
    project: Bad
    notification_channels: [slack-oncall]
    system_lag: 90s
    job_missing: 1m
    dead_letters_per_minute: lots
    for: "off"
    lag: 5m
`, 1) + "    alerts: {drift: 1h, data_freshness: 10 minutes}\n"
	_, err := fleet.Load(writeFleet(t, content))
	var verr *fleet.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("no validation error: %v", err)
	}
	got := err.Error()
	for _, want := range []string{
		`:16: defaults.alerts.project: "Bad" is not a valid project id`,
		`:17: defaults.alerts.notification_channels[0]: "slack-oncall" is not projects/PROJECT/notificationChannels/ID`,
		`:18: defaults.alerts.system_lag: "90s" must be whole minutes`,
		`:19: defaults.alerts.job_missing: "1m" must be at least 2m`,
		`:20: defaults.alerts.dead_letters_per_minute: "lots": want a positive number`,
		`:21: defaults.alerts.for: cannot be off`,
		`:22: defaults.alerts.lag: unknown key`,
		`:34: event_types[1].alerts.drift: only allowed in defaults.alerts`,
		`:34: event_types[1].alerts.data_freshness: "10 minutes" is not a duration`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
