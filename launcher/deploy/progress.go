package deploy

import "time"

// EventKind names a step of a deploy, a rollout or a rollback that a person follows as it
// happens. The engine's kinds are here; a rollout's (waves, soaks, gates, rollbacks) are
// in package rollout, of this type.
type EventKind string

// The engine's event kinds, and the fields of [Event] each sets.
const (
	EventPhase     EventKind = "phase"      // Phase, Count: a phase of Count jobs begins
	EventStep      EventKind = "step"       // Phase, Item: a job's step of the phase is done
	EventPhaseDone EventKind = "phase-done" // Phase: the phase is over
)

// The engine's phases: the launches and drains, then the wait for RUNNING.
const (
	PhaseApply = "apply"
	PhaseWait  = "wait for RUNNING"
)

// Event is one step of a deploy, a rollout or a rollback, told to Options.Progress as it
// happens: the one progress type of the one engine. The engine tells its phases and each
// job it is done with; a rollout passes its Progress to the engine for each wave and
// rollback, and tells its own steps of the same type. launcher/view renders every kind
// (view.Progress), as it renders the results.
type Event struct {
	Kind EventKind
	// Phase is the engine's phase (PhaseApply, PhaseWait).
	Phase    string
	Rollout  string
	Wave     string
	Count    int
	Of       int
	Waves    int
	Soak     time.Duration
	Problems []string
	// Item is a copy of the job's result as it stands when told.
	Item   *ItemResult
	OldJob string
}

// step tells Progress that r's step of phase is done, with a copy of r: the listener may
// keep it while the engine goes on.
func (o Options) step(phase string, r ItemResult) {
	o.Progress(Event{Kind: EventStep, Phase: phase, Item: &r})
}
