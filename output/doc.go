// Package output is the contract of what the pipeline writes: where an event type's
// buckets live, what their files are called, and the manifest that closes each of them.
// The transforms write by it, the launcher reads by it, and so can any downstream reader:
// it depends on the standard library and goavro only (goavro reads a data file's header,
// [ReadFileIDs]; no Beam, no storage client).
//
// # Layout
//
// Under an output root (a local folder or a gs:// URL), per event type:
//
//	<root>/<type>/YYYY/MM/DD/HH/part-<run>-<pane>-<shard>.avro   data files (Avro, snappy)
//	<root>/<type>/YYYY/MM/DD/HH/_SUCCESS                         the manifest (JSON)
//	<root>/<type>/_deadletter/YYYY/MM/DD/HH/part-<run>-<pane>-<shard>.avro
//	<root>/<type>/_deadletter/unreadable/<hash>.json             replay lines without a time
//
// Buckets shorter than an hour add a minute level (mm), shorter than a minute a second
// level (ss). A folder without a manifest is an open bucket: readers wait for the manifest.
//
// # Manifest
//
// The manifest is the commit record of a bucket: the bucket is exactly the files it lists,
// and it never changes once written. [Manifest] is its JSON form; [ParseManifest] and
// [Manifest.Marshal] read and write it.
//
// # Time
//
// Every time is Unix milliseconds in UTC. Bucket H (width W, skew tolerance L) closes at
// C(H) = H + W + L; [Layout] holds that geometry and the placement of events.
package output
