package fleet

// Flex Template parameter names: the pipeline binary's flags (pipelines/eventdelivery), one
// for one. They live here, in one place, so that a test can check them against the
// pipeline's own flag list and the template's metadata.json.
const (
	ParamEventType       = "event_type"
	ParamSchema          = "schema"           // a Pub/Sub schema, projects/P/schemas/S[@REVISION], read by the job at start
	ParamSchemaJSON      = "schema_json"      // the Avro schema itself, inline (the fleet's schema is a local file)
	ParamSchemaRevisions = "schema_revisions" // a gs:// folder of writer revisions
	ParamSubscription    = "subscription"
	ParamOutput          = "output"
	ParamLayout          = "layout" // how bucket folders are named: date or hive
	ParamNotifyTopic     = "notify_topic"
	ParamBucketTime      = "bucket_time"
	ParamEventID         = "event_id"
	ParamSkewTolerance   = "skew_tolerance"
	ParamMaxFuture       = "max_future"
	ParamBucketWidth     = "bucket_width"
	ParamShards          = "shards"
	ParamEarlyPanes      = "early_panes"
	ParamRunID           = "run_id" // set per launch by the deployer, not part of the config hash

	// A backfill (launcher backfill) passes these instead of subscription.
	ParamInput      = "input"       // the archive to replay: a gs:// glob
	ParamReplayFrom = "replay_from" // the first bucket replayed, RFC3339
	ParamReplayTo   = "replay_to"   // the end of the replayed span (exclusive), RFC3339
)

// BackfillParameters are the parameters a backfill passes besides an event type's own
// (PipelineParameters but subscription).
var BackfillParameters = []string{ParamInput, ParamReplayFrom, ParamReplayTo}

// PipelineParameters lists every parameter the launcher may pass to the Flex Template.
var PipelineParameters = []string{
	ParamEventType,
	ParamSchema,
	ParamSchemaJSON,
	ParamSchemaRevisions,
	ParamSubscription,
	ParamOutput,
	ParamLayout,
	ParamNotifyTopic,
	ParamBucketTime,
	ParamEventID,
	ParamSkewTolerance,
	ParamMaxFuture,
	ParamBucketWidth,
	ParamShards,
	ParamEarlyPanes,
	ParamRunID,
}
