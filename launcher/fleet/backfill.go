package fleet

import "strings"

// Labels of a backfill job (launcher backfill): a batch job that replays an archive of one
// event type into an output, next to the event type's live job and never mistaken for it.
const (
	// LabelBackfill marks a backfill job; its value is the backfill's run id, which its
	// manifests carry too.
	LabelBackfill = "backfill"
	// LabelBackfillFrom and LabelBackfillTo are the replayed span, [from, to), as
	// 20261201t1000 (UTC); absent when the whole input is replayed.
	LabelBackfillFrom = "backfill-from"
	LabelBackfillTo   = "backfill-to"
)

// BackfillLabelTime is the layout of LabelBackfillFrom and LabelBackfillTo (a label
// value: lower case, digits).
const BackfillLabelTime = "20060102t1504"

// BackfillPrefix is what every backfill job name of a fleet starts with:
// backfill-<fleet>-<event type>-…. It is outside the fleet's own prefix `<fleet>-` on
// purpose: every name under that prefix is one an event type may take, and Cloud
// Monitoring sees jobs by name only, so the fleet's alert policies (which select
// `<fleet>-*`) never see a backfill. The fleet names backfill and backfill-… are refused, so
// no fleet's prefix covers another's backfills.
func BackfillPrefix(fleet string) string { return "backfill-" + fleet + "-" }

// IsBackfill reports whether a job's labels (read with Get) mark it as a backfill of the
// fleet: it is then neither an event type's live job nor an orphan.
func IsBackfill(labels map[string]string, fleet string) bool {
	return labels[LabelBackfill] != "" && labels[LabelManagedBy] == ManagedByValue && labels[LabelFleet] == fleet
}

// reservedFleetName reports whether a fleet name would cover backfill job names.
func reservedFleetName(name string) bool {
	return name == "backfill" || strings.HasPrefix(name, "backfill-")
}
