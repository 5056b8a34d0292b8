package delivery

// Param describes one pipeline parameter: the command-line flag and, generated from the
// same table, the Flex Template parameter (templates/metadata.json).
type Param struct {
	Name      string   // flag name, --name
	Label     string   // short human label
	Help      string   // one or two sentences
	Default   string   // the flag's default value; "" for none
	Regexes   []string // what a valid value matches, for the template's validation
	Optional  bool     // not required to run
	ParamType string   // Flex Template parameter type, e.g. PUBSUB_SUBSCRIPTION, GCS_WRITE_FOLDER
}

const (
	durationRegex = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`
	sourceRegex   = `^(attribute|field):[A-Za-z_][A-Za-z0-9_.\-]*$`
	rfc3339Regex  = `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`
)

// Params lists every parameter of the event-type pipeline, in the order of the README.
var Params = []Param{
	{Name: "event_type", Label: "Event type", Help: "Name of the event type, the first folder of its output: [a-z][a-z0-9-]*.", Regexes: []string{`^[a-z][a-z0-9-]*$`}},
	{Name: "schema", Label: "Avro schema", Help: "The event type's reader schema: path or gs:// URL of an Avro schema (.avsc), or a Pub/Sub schema projects/P/schemas/S (its newest revision; every revision is a known writer) or projects/P/schemas/S@REVISION. Files are written with it.", Optional: true},
	{Name: "schema_json", Label: "Avro schema JSON", Help: "The event type's Avro schema itself, as JSON; used instead of --schema when set.", Optional: true},
	{Name: "schema_revisions", Label: "Schema revisions folder", Help: "Folder (local or gs://) of <revision_id>.avsc files: the writer revisions a message may name in googclient_schemarevisionid, resolved into the reader schema. With none known the attribute is ignored.", Optional: true},
	{Name: "input", Label: "Replay input", Help: "File(s) of archived Pub/Sub messages to replay (a bounded run, for backfills and tests), a path or gs:// URL, * matching within a folder: JSON lines, the Avro files of a Pub/Sub Cloud Storage subscription, or this pipeline's dead-letter files (see --input_format). Exactly one of --input and --subscription.", Optional: true, ParamType: "GCS_READ_FILE"},
	{Name: "input_disorder", Label: "Replay input disorder", Help: "How far behind the latest publish time read a replay's message may come. The input must be ordered by publish time within each file, files named in time order: its watermark trails the input by this much, so that each bucket closes, and leaves memory, once the input is read past it. A message further behind fails the replay, naming it. any: input in any order, every bucket held in memory until the end.", Default: "1m", Optional: true, Regexes: []string{durationRegex + `|^any$`}},
	{Name: "input_format", Label: "Replay input format", Help: "Format of the replay's files: json (one message a line), pubsub-avro (Avro written by a Cloud Storage subscription with write_metadata on), deadletter (this pipeline's dead-letter files: each message is decoded again) or auto, told apart per file by its content.", Default: "auto", Optional: true, Regexes: []string{`^(auto|json|pubsub-avro|deadletter)$`}},
	{Name: "replay_from", Label: "Replay from", Help: "With replay_to: a backfill of the buckets starting in [replay_from, replay_to), RFC3339 times at bucket boundaries. Messages whose bucket falls outside are counted, not delivered; only the buckets of the range are closed, empty ones too.", Optional: true, Regexes: []string{rfc3339Regex}},
	{Name: "replay_to", Label: "Replay to", Help: "The end (exclusive) of a backfill's range: see replay_from.", Optional: true, Regexes: []string{rfc3339Regex}},
	{Name: "replay_open_hours", Label: "Replay open hours", Help: "A replay over hours that another run (a live job) still has open, files but no manifest, is refused unless this is true; the replay then adds its files to them and may close them (docs/operations.md, Backfills).", Default: "false", Optional: true, Regexes: []string{`^(true|false)$`}},
	{Name: "subscription", Label: "Pub/Sub subscription", Help: "projects/P/subscriptions/S to read forever (a streaming job). Exactly one of --input and --subscription.", Optional: true, Regexes: []string{`^projects/[^/]+/subscriptions/[^/]+$`}, ParamType: "PUBSUB_SUBSCRIPTION"},
	{Name: "id_attribute", Label: "Id attribute", Help: "On Dataflow, the attribute Dataflow's Pub/Sub source dedupes by, besides the message id; the pipeline's own dedupe by event id runs anyway.", Optional: true, Regexes: []string{`^[A-Za-z0-9_.-]+$`}},
	{Name: "output", Label: "Output location", Help: "Local folder or gs:// URL under which <event_type>/YYYY/MM/DD/HH/ buckets are written (see --layout).", ParamType: "GCS_WRITE_FOLDER"},
	{Name: "layout", Label: "Folder layout", Help: "How bucket folders are named: date (<event_type>/YYYY/MM/DD/HH/) or hive (<event_type>/dt=YYYY-MM-DD/hour=HH/, the partitions BigQuery, Spark and Hive discover); dead letters under <event_type>/_deadletter/ the same way.", Default: "date", Optional: true, Regexes: []string{`^(date|hive)$`}},
	{Name: "notify_topic", Label: "Close notifications", Help: "projects/P/topics/T: when set, one message per closed bucket is published there once its manifest is written (data: the manifest; attributes event_type, bucket_start, bucket_end, manifest). At least once: consumers dedupe on the manifest attribute.", Optional: true, Regexes: []string{`^projects/[^/]+/topics/[^/]+$`}, ParamType: "PUBSUB_TOPIC"},
	{Name: "bucket_time", Label: "Bucket time", Help: "Where an event's bucket time comes from: publish_time, attribute:NAME (RFC3339 or epoch ms) or field:NAME (timestamp-millis/micros long or RFC3339 string).", Default: "publish_time", Optional: true, Regexes: []string{`^publish_time$|` + sourceRegex}},
	{Name: "event_id", Label: "Event id", Help: "Where an event's id, the dedupe key, comes from: attribute:NAME or field:NAME.", Default: "attribute:event_id", Optional: true, Regexes: []string{sourceRegex}},
	{Name: "skew_tolerance", Label: "Skew tolerance", Help: "How long a bucket stays open after it ends, for late events (L).", Default: "30m", Optional: true, Regexes: []string{durationRegex}},
	{Name: "max_future", Label: "Max future", Help: "Bucket times further than this after the publish time are a wrong clock: such events go to the oldest open bucket, counted as skewed.", Default: "10m", Optional: true, Regexes: []string{durationRegex}},
	{Name: "bucket_width", Label: "Bucket width", Help: "Width of a bucket: 1h in production; shorter widths (dividing a day, 1s at least) are for tests and demos.", Default: "1h", Optional: true, Regexes: []string{durationRegex}},
	{Name: "shards", Label: "Shards", Help: "Files per bucket and pane; the dedupe state is keyed by shard of event id.", Default: "4", Optional: true, Regexes: []string{`^[1-9][0-9]*$`}},
	{Name: "early_panes", Label: "Early panes", Help: "On Dataflow, a live job also writes a bucket's events every this long of processing time before the bucket closes, so that a large hour is written as it fills instead of all at its close. 0 writes each bucket once, when it closes. Not on Prism.", Default: "0", Optional: true, Regexes: []string{durationRegex}},
	{Name: "file_records", Label: "Records per file", Help: "Where the runner's state does not survive the process (Prism, other portable runners), messages are acked only once they are in a file: a live job writes a shard's pending events to a file whenever this many wait, and at the bucket's close. It bounds the unacked messages to about this many per shard and open bucket. A replay on such a runner writes its files the same way, so that it holds about this many events per shard and open bucket in memory. Not used on Dataflow.", Default: "10000", Optional: true, Regexes: []string{`^[1-9][0-9]*$`}},
	{Name: "durable_commits", Label: "Durable commits", Help: "The runner's commits survive the process (Flink with durable checkpoints, say): the live reader then acks a message once its bundle is committed, as on Dataflow, instead of once it is in a file.", Default: "false", Optional: true, Regexes: []string{`^(true|false)$`}},
	{Name: "lookback", Label: "Lookback", Help: "On start, buckets of this recent past that hold files but no manifest (left open by the job this one replaces) are closed by this job. A replay refuses to start over such buckets unless replay_open_hours, and a backfill with a range closes only its range. 0 turns it off.", Default: "48h", Optional: true, Regexes: []string{durationRegex}},
	{Name: "run_id", Label: "Run id", Help: "Names this run's files. Unique per job; reuse it only to rerun the same replay, which then changes nothing closed and replaces what the earlier attempt left in the hours still open. Default: the start time and a random suffix.", Optional: true, Regexes: []string{`^[A-Za-z0-9_.-]+$`}},
}
