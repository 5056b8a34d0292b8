package output

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// File is one data file of a bucket, as listed in its manifest.
type File struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"` // the object's size; 0 in manifests of version 1
	// SchemaFingerprint is the fingerprint (as Manifest.SchemaFingerprint) of the schema in the
	// data file's Avro header, the reader schema of the job that wrote it: a bucket written
	// across a schema change holds files of two. Absent for dead-letter files and in
	// manifests written before it was recorded.
	SchemaFingerprint string `json:"schema_fingerprint,omitempty"`
}

// ManifestVersion is the version of the manifest format this package writes. Version 1
// (no manifest_version field) had no file sizes, bucket times or layout; version 2 added
// them. Fields are only ever added within a version; a reader ignores fields it does not
// know, and refuses a manifest of a version newer than it knows rather than misread it.
// docs/manifest.schema.json is the format's JSON Schema.
const ManifestVersion = 2

// Manifest is the commit record of a bucket: the bucket is exactly the files it lists.
type Manifest struct {
	ManifestVersion int    `json:"manifest_version"`
	EventType       string `json:"event_type"`
	BucketStart     string `json:"bucket_start"`
	BucketEnd       string `json:"bucket_end"`
	Layout          Paths  `json:"layout"` // how the event type's folders are named
	Records         int64  `json:"records"`
	Duplicates      int64  `json:"duplicates"`
	Skewed          int64  `json:"skewed"`
	Invalid         int64  `json:"invalid"`
	// EarliestBucketTime and LatestBucketTime bound the bucket times of the bucket's
	// records (RFC3339, ms): outside the bucket for skewed events. Absent when the bucket
	// has no records, or its files were written before the times were recorded.
	EarliestBucketTime string `json:"earliest_bucket_time,omitempty"`
	LatestBucketTime   string `json:"latest_bucket_time,omitempty"`
	// SchemaFingerprint is the SHA-256 of the Parsing Canonical Form (hex, as
	// internal/codec's Fingerprint computes it) of the reader schema of the job that closed
	// the bucket: the newest schema of the bucket, which reads every file of it by Avro's
	// resolution (docs/architecture.md). Absent in manifests written before it was recorded.
	SchemaFingerprint string `json:"schema_fingerprint,omitempty"`
	// RecordsByRevision counts the bucket's records by the writer schema revision they came
	// in (googclient_schemarevisionid); records decoded with the reader schema because they
	// named no revision, or because the job knew none, count under NoRevision. It sums to
	// Records. Absent when a file of the bucket was written before the counts were recorded.
	RecordsByRevision map[string]int64 `json:"records_by_revision,omitempty"`
	Files             []File           `json:"files"`
	DeadLetterFiles   []File           `json:"dead_letter_files"`
	// NotifyTopic is the Pub/Sub topic the closing job announces the bucket on
	// (--notify_topic); absent when it announces nothing. See Notice.
	NotifyTopic     string `json:"notify_topic,omitempty"`
	RunID           string `json:"run_id"`
	PipelineVersion string `json:"pipeline_version"`
	ClosedAt        string `json:"closed_at"`
}

// Notice records that a bucket's close was announced: written at Target.NoticePath once
// Pub/Sub accepted the message, so that a job replacing one that died in between (after the
// manifest, before the announcement) announces the bucket itself.
type Notice struct {
	Topic       string `json:"topic"`  // where it was announced
	RunID       string `json:"run_id"` // the run that announced it
	PublishedAt string `json:"published_at"`
}

// Keys of the counts a data file carries in its Avro header, so that a job that closes a
// bucket another job wrote into counts that job's duplicates and skewed events too.
const (
	MetaDuplicates = "eventdelivery.duplicates"
	MetaSkewed     = "eventdelivery.skewed"
	// MetaMinTime and MetaMaxTime bound the bucket times of the file's records (Unix ms),
	// for the manifest's earliest and latest bucket time.
	MetaMinTime = "eventdelivery.min_time"
	MetaMaxTime = "eventdelivery.max_time"
	// MetaRevisions holds the file's records per writer revision (RevisionsMeta), for the
	// manifest's records_by_revision.
	MetaRevisions = "eventdelivery.revisions"
)

// NoRevision is the key of records_by_revision under which records count that were decoded
// with the reader schema without a writer revision: the message named none, or the job
// knew no revisions. Pub/Sub revision ids never start with '_', and --schema_revisions
// refuses files that do.
const NoRevision = "_none"

// RevisionsMeta returns the header value of MetaRevisions: a JSON object of counts by
// revision, keys in order, so that the same records give the same bytes.
func RevisionsMeta(counts map[string]int64) string {
	b, err := json.Marshal(counts)
	if err != nil {
		panic(err) // a map of strings to ints always marshals
	}
	return string(b)
}

// ParseRevisionsMeta reads a MetaRevisions header value; ok is false when the file has none
// (written before the counts were recorded).
func ParseRevisionsMeta(v []byte) (counts map[string]int64, ok bool, err error) {
	if v == nil {
		return nil, false, nil
	}
	if err := json.Unmarshal(v, &counts); err != nil {
		return nil, false, fmt.Errorf("header %s: %w", MetaRevisions, err)
	}
	for rev, n := range counts {
		if n < 0 {
			return nil, false, fmt.Errorf("header %s: revision %q counts %d records", MetaRevisions, rev, n)
		}
	}
	return counts, true, nil
}

// FormatTime returns a time (Unix ms) as the manifest writes it: RFC3339 in UTC, with
// milliseconds when there are any.
func FormatTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// Marshal returns the manifest as it is written: indented JSON and a newline.
func (m Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("manifest of %s %s: %w", m.EventType, m.BucketStart, err)
	}
	return append(b, '\n'), nil
}

// ParseManifest reads a manifest written by Marshal, of this version or an older one: a
// manifest without manifest_version is version 1, without layout the date layout.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	switch {
	case m.ManifestVersion == 0:
		m.ManifestVersion = 1
	case m.ManifestVersion < 0 || m.ManifestVersion > ManifestVersion:
		return nil, fmt.Errorf("manifest_version %d: this reader knows versions 1 to %d", m.ManifestVersion, ManifestVersion)
	}
	if m.Layout == "" {
		m.Layout = DatePaths
	}
	return &m, nil
}

// Store is what reading an output needs of the place it is in: internal/objstore's Store
// serves it on local disk and Cloud Storage; a downstream reader can bring its own.
type Store interface {
	// Exists reports whether the object at path exists; an error is never absence.
	Exists(ctx context.Context, path string) (bool, error)
	// Read returns the whole object at path.
	Read(ctx context.Context, path string) ([]byte, error)
}

// ReadManifest returns the manifest of bucket start, or nil when the bucket is open.
func (t Target) ReadManifest(ctx context.Context, st Store, start int64) (*Manifest, error) {
	p := t.ManifestPath(start)
	ok, err := st.Exists(ctx, p)
	if err != nil || !ok {
		return nil, err
	}
	b, err := st.Read(ctx, p)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", p, err)
	}
	return m, nil
}
