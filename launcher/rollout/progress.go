package rollout

import "github.com/eventdelivery/eventdelivery/launcher/deploy"

// Event is one step a person follows as it happens: the engine's ([deploy.Event]), so
// that a rollout, the deploy engine it applies each wave and rollback through, and a
// plain deploy report in one type, rendered by one renderer (launcher/view.Progress).
type Event = deploy.Event

// The event kinds of a rollout or rollback, besides the engine's (deploy.EventPhase,
// EventStep, EventPhaseDone), and the fields of [Event] each sets.
const (
	EventStart       deploy.EventKind = "start"        // Rollout, Count (event types to change), Waves, Soak
	EventResume      deploy.EventKind = "resume"       // Rollout, Count (jobs upgraded before the interruption)
	EventWave        deploy.EventKind = "wave"         // Wave, Count (to change), Of (event types in the wave)
	EventWaveSkipped deploy.EventKind = "wave-skipped" // Wave, Of
	EventJob         deploy.EventKind = "job"          // Item: a job of a wave or a rollback is done, with the rollout's status
	EventReplacing   deploy.EventKind = "replacing"    // Item, OldJob: an incompatible update is replaced
	EventSoak        deploy.EventKind = "soak"         // Wave, Soak, Count (jobs watched)
	EventHealthy     deploy.EventKind = "healthy"      // Wave, Soak
	EventGateFailed  deploy.EventKind = "gate-failed"  // Wave, Problems
	EventStop        deploy.EventKind = "stop"         // Rollout, Count (jobs to roll back)
	EventRollback    deploy.EventKind = "rollback"     // Rollout, Count (jobs to roll back): a rollback starts
)

// snapshot is a copy of it's result, for an event: the listener may keep it while the
// rollout goes on.
func snapshot(it *Item) *deploy.ItemResult {
	r := it.ItemResult
	return &r
}
