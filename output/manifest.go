package output

import (
	"context"
	"encoding/json"
	"fmt"
)

// File is one data file of a bucket, as listed in its manifest.
type File struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
}

// Manifest is the commit record of a bucket: the bucket is exactly the files it lists.
type Manifest struct {
	EventType       string `json:"event_type"`
	BucketStart     string `json:"bucket_start"`
	BucketEnd       string `json:"bucket_end"`
	Records         int64  `json:"records"`
	Duplicates      int64  `json:"duplicates"`
	Skewed          int64  `json:"skewed"`
	Invalid         int64  `json:"invalid"`
	Files           []File `json:"files"`
	DeadLetterFiles []File `json:"dead_letter_files"`
	RunID           string `json:"run_id"`
	PipelineVersion string `json:"pipeline_version"`
	ClosedAt        string `json:"closed_at"`
}

// Keys of the counts a data file carries in its Avro header, so that a job that closes a
// bucket another job wrote into counts that job's duplicates and skewed events too.
const (
	MetaDuplicates = "eventdelivery.duplicates"
	MetaSkewed     = "eventdelivery.skewed"
)

// Marshal returns the manifest as it is written: indented JSON and a newline.
func (m Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("manifest of %s %s: %w", m.EventType, m.BucketStart, err)
	}
	return append(b, '\n'), nil
}

// ParseManifest reads a manifest written by Marshal.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
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
