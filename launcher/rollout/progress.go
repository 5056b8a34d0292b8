package rollout

import "time"

// EventKind names a step of a rollout or rollback that a person follows as it happens.
type EventKind string

// Event kinds, and the fields of [Event] each sets.
const (
	EventStart       EventKind = "start"        // Rollout, Count (event types to change), Waves, Soak
	EventResume      EventKind = "resume"       // Rollout, Count (jobs upgraded before the interruption)
	EventWave        EventKind = "wave"         // Wave, Count (to change), Of (event types in the wave)
	EventWaveSkipped EventKind = "wave-skipped" // Wave, Of
	EventJob         EventKind = "job"          // Item: a job of a wave or a rollback is done
	EventReplacing   EventKind = "replacing"    // Item, OldJob: an incompatible update is replaced
	EventSoak        EventKind = "soak"         // Wave, Soak, Count (jobs watched)
	EventHealthy     EventKind = "healthy"      // Wave, Soak
	EventGateFailed  EventKind = "gate-failed"  // Wave, Problems
	EventStop        EventKind = "stop"         // Rollout, Count (jobs to roll back)
	EventRollback    EventKind = "rollback"     // Rollout, Count (jobs to roll back): a rollback starts
)

// Event is one step of a rollout or rollback, told to Options.Progress as it happens;
// launcher/view renders it (view.RolloutProgress), as it renders the result.
type Event struct {
	Kind     EventKind
	Rollout  string
	Wave     string
	Count    int
	Of       int
	Waves    int
	Soak     time.Duration
	Problems []string
	Item     *Item
	OldJob   string
}

// progress tells the options' Progress about e, if anyone listens.
func (o Options) progress(e Event) {
	if o.Progress != nil {
		o.Progress(e)
	}
}
