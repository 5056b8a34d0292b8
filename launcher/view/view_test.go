package view_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/eventdelivery/eventdelivery/launcher/dataflow"
	"github.com/eventdelivery/eventdelivery/launcher/deploy"
	"github.com/eventdelivery/eventdelivery/launcher/plan"
	"github.com/eventdelivery/eventdelivery/launcher/rollout"
	"github.com/eventdelivery/eventdelivery/launcher/stopjobs"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/eventdelivery/eventdelivery/templates/publish"
)

func render(t *testing.T, fn func(*bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The JSON of a rollout lists empty waves and items as [] and leaves the result as it was.
func TestRolloutJSONDoesNotChangeTheResult(t *testing.T) {
	r := &rollout.Result{ID: "r-1", Fleet: "events", Version: "v2", Outcome: "no changes"}
	before := *r
	out := render(t, func(b *bytes.Buffer) error { return view.Rollout(b, view.JSON, r) })
	if !reflect.DeepEqual(*r, before) {
		t.Errorf("the result changed: %+v, was %+v", *r, before)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"waves", "items", "rolled_back"} {
		if l, ok := got[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, got[k])
		}
	}
	if got["rollout_id"] != "r-1" || got["outcome"] != "no changes" {
		t.Errorf("JSON %s", out)
	}
}

// A rollout's items are rendered in the shape of a deploy's, with their wave; a deploy's
// without the WAVE column.
func TestRolloutAndDeployTables(t *testing.T) {
	item := func(action plan.Action, from, to, id string, st deploy.Status) deploy.ItemResult {
		return deploy.ItemResult{JobName: "events-a", Project: "p", Region: "r", Wave: 1, Action: action,
			From: from, Version: to, Status: st, JobID: id}
	}
	r := &rollout.Result{ID: "r-1", Version: "v2", Outcome: "rolled back", Reason: "gate failed",
		Result:     deploy.Result{Items: []deploy.ItemResult{item(plan.Update, "v1", "v2", "j2", rollout.Upgraded)}},
		Waves:      []rollout.Wave{{Name: "canary", EventTypes: []string{"a"}, Changed: 1, Outcome: "gate failed"}},
		RolledBack: []deploy.ItemResult{item(rollout.RollbackAction, "v2", "v1", "j3", rollout.RolledBack)},
	}
	want := "WAVE    EVENT TYPES  CHANGED  OUTCOME\n" +
		"canary  1            1        gate failed\n" +
		"\n" +
		"JOB       PROJECT/REGION  WAVE  ACTION    VERSION  STATUS       JOB ID  STATE  NOTE\n" +
		"events-a  p/r             1     update    v1 → v2  upgraded     j2      -      \n" +
		"events-a  p/r             1     rollback  v2 → v1  rolled-back  j3      -      \n" +
		"\n" +
		"Rollout r-1 (v2): rolled back; 1 upgraded, 0 incompatible, 0 failed, 1 rolled back; 1 waves: gate failed.\n"
	if got := render(t, func(b *bytes.Buffer) error { return view.Rollout(b, view.Table, r) }); got != want {
		t.Errorf("rollout table:\n%s\nwant:\n%s", got, want)
	}
	d := &deploy.Result{Items: []deploy.ItemResult{
		{JobName: "events-a", Project: "p", Region: "r", Action: plan.Create, Version: "v2", Status: deploy.Failed, Error: "deploy a: launch: boom", Attempts: 2},
		{JobName: "events-b", Project: "p", Region: "r", Action: plan.Unchanged, Version: "v2", Status: deploy.Running, JobID: "j1", State: dataflow.StateRunning},
	}}
	want = "JOB       PROJECT/REGION  ACTION  VERSION  STATUS  JOB ID  STATE  NOTE\n" +
		"events-a  p/r             create  v2       failed  -       -      deploy a: launch: boom\n" +
		"\n" +
		"Deploy: 0 created, 0 updated, 0 recreated, 1 unchanged; 1 running, 1 failed, 0 timed out, 0 skipped (0s).\n"
	if got := render(t, func(b *bytes.Buffer) error { return view.Deploy(b, view.Table, d) }); got != want {
		t.Errorf("deploy table:\n%s\nwant:\n%s", got, want)
	}
}

func TestStop(t *testing.T) {
	ts := []stopjobs.Target{
		{JobName: "events-a", Project: "p", Region: "r", JobID: "j1", OK: true, Result: "DRAINING", State: dataflow.StateDraining},
		{JobName: "events-b", Project: "p", Region: "r", Skip: "no active job"},
		{JobName: "events-c", Project: "p", Region: "r", JobID: "j3", Result: "drain events-c: boom"},
	}
	want := "JOB       PROJECT/REGION  JOB ID  RESULT\n" +
		"events-a  p/r             j1      DRAINING\n" +
		"events-b  p/r                     skipped: no active job\n" +
		"events-c  p/r             j3      drain events-c: boom\n" +
		"\nDrain: 1 draining, 1 skipped, 1 failed.\n"
	if got := render(t, func(b *bytes.Buffer) error { return view.Stop(b, view.Table, stopjobs.Drain, ts) }); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if got := render(t, func(b *bytes.Buffer) error { return view.Stop(b, view.JSON, stopjobs.Cancel, nil) }); got != "{\n  \"jobs\": [],\n  \"mode\": \"cancel\"\n}\n" {
		t.Errorf("JSON of no targets: %q", got)
	}
}

func TestPublish(t *testing.T) {
	r := &publish.Result{Version: "v1", Outcome: "published", Image: "reg/ed@sha256:1", Tag: "reg/ed:v1", Base: "base@sha256:2", Spec: "gs://b/v1/spec.json", Revision: "abc"}
	want := "v1 published\n  image: reg/ed@sha256:1\n  tag:   reg/ed:v1\n  base:  base@sha256:2\n  spec:  gs://b/v1/spec.json\n  commit: abc\n"
	if got := render(t, func(b *bytes.Buffer) error { return view.Publish(b, view.Table, r) }); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	var back publish.Result
	if err := json.Unmarshal([]byte(render(t, func(b *bytes.Buffer) error { return view.Publish(b, view.JSON, r) })), &back); err != nil || back != *r {
		t.Errorf("JSON round trip: %+v, %v", back, err)
	}
}

// A rollout's progress (view.Progress, the renderer of a plain deploy's too), one line per
// step, with each done job in one shape whether a wave or a rollback took it.
func TestRolloutProgress(t *testing.T) {
	job := func(action plan.Action, from, to string, st deploy.Status, errText string) *deploy.ItemResult {
		return &deploy.ItemResult{JobName: "events-a", Action: action, From: from, Version: to, Status: st, JobID: "j2", Error: errText}
	}
	var b bytes.Buffer
	p := view.Progress(&b, false)
	for _, e := range []rollout.Event{
		{Kind: rollout.EventStart, Rollout: "r-1", Count: 3, Waves: 2, Soak: 10 * time.Minute},
		{Kind: rollout.EventWave, Wave: "wave 1/2 (canaries)", Count: 1, Of: 1},
		{Kind: rollout.EventJob, Item: job(plan.Update, "v1", "v2", rollout.Upgraded, "")},
		{Kind: rollout.EventSoak, Wave: "wave 1/2 (canaries)", Soak: 10 * time.Minute, Count: 1},
		{Kind: rollout.EventGateFailed, Wave: "wave 1/2 (canaries)", Problems: []string{"events-a: lag 20m", "events-a: no hour"}},
		{Kind: rollout.EventStop, Rollout: "r-1", Count: 1},
		{Kind: rollout.EventJob, Item: job(rollout.RollbackAction, "v2", "v1", rollout.Failed, "boom")},
		{Kind: rollout.EventWaveSkipped, Wave: "wave 2/2", Of: 2},
	} {
		p(e)
	}
	want := "rollout r-1: 3 event types to change in 2 waves, soak 10m0s per wave\n" +
		"wave 1/2 (canaries): upgrading 1 of 1 event types\n" +
		"  [ok] events-a update: v1 → v2 j2\n" +
		"wave 1/2 (canaries): soaking 10m0s, watching 1 upgraded jobs\n" +
		"wave 1/2 (canaries): health gate FAILED: events-a: lag 20m; events-a: no hour\n" +
		"rollout r-1: stopping; rolling back 1 upgraded jobs in place\n" +
		"  [FAILED] events-a rollback: v2 → v1 j2: boom\n" +
		"wave 2/2: 2 event types, nothing to change\n"
	if got := b.String(); got != want {
		t.Errorf("progress:\n%s\nwant:\n%s", got, want)
	}
}

// A --watch report replaces the last one on a terminal, and follows it elsewhere.
func TestWatched(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	for _, tc := range []struct {
		terminal bool
		want     string
	}{
		{true, "\x1b[H\x1b[2Jreport\n\nupdated 12:00:05, every 30s; Ctrl-C to stop\n"},
		{false, "report\n\n"},
	} {
		var b bytes.Buffer
		view.Watched(&b, tc.terminal, []byte("report\n"), at, 30*time.Second)
		if b.String() != tc.want {
			t.Errorf("terminal %v: %q, want %q", tc.terminal, b.String(), tc.want)
		}
	}
}
