// Package message defines the elements that flow between the pipeline's transforms: the
// Pub/Sub message as read, the decoded event, the dead letter, the batch a shard writes and
// the entry a written file (or a heartbeat) adds to its bucket's manifest. What the output
// holds is defined by package output; these are the pipeline's own elements.
package message

import (
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Message)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Event)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*DeadLetter)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Batch)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Entry)(nil)).Elem())
}

// Message is one Pub/Sub message: its id, publish time, attributes and payload.
type Message struct {
	ID          string
	PublishTime int64 // Unix milliseconds
	Attributes  map[string]string
	Data        []byte
	AckID       string // Pub/Sub's ack id, for the writer of its output to ack (internal/acks); empty when the source acks
}

// Published returns the publish time as a time.Time in UTC.
func (m Message) Published() time.Time { return time.UnixMilli(m.PublishTime).UTC() }

// Event is a valid, decoded event on its way to a bucket.
type Event struct {
	ID          string // the event id, the dedupe key
	MessageID   string
	PublishTime int64  // Unix milliseconds
	Time        int64  // bucket time t, Unix milliseconds
	Bucket      int64  // start of the bucket the event goes to, Unix milliseconds; set by bucket.Assign
	Skewed      bool   // the event was moved to the oldest open bucket
	From        int64  // when moved: start of the bucket of its bucket time, where a copy may already be
	Record      []byte // the record in Avro binary encoding of the event type's schema
	AckID       string // the message's ack id, acked once the event is in a file (internal/acks)
	Revision    string // the writer schema revision it came in, when revisions are known (internal/codec); Record is in the reader schema
}

// DeadLetter is a message the pipeline could not deliver, with the reason.
type DeadLetter struct {
	Message Message
	Reason  string
	Bucket  int64 // start of the bucket it is counted in; set by bucket.AssignDeadLetters
}

// Batch is one pane of one shard of one bucket: the events to write, deduplicated.
type Batch struct {
	Shard      int
	Bucket     int64 // bucket start, Unix ms
	Pane       int64 // the pane's index: 0 for the first
	Last       bool  // no pane follows for this shard and bucket
	Events     []Event
	Duplicates int64    // copies dropped from this pane
	Acks       []string // ack ids of the copies dropped, acked with the pane's file (internal/acks)
}

// Entry is what a bucket's manifest is made of: a file written into it, a dead-letter file
// counted in it, or a heartbeat (no file) that makes sure an empty bucket is closed too.
type Entry struct {
	Bucket     int64  // bucket start, Unix ms
	Name       string // full path of the file; empty for a heartbeat
	DeadLetter bool   // Name is a dead-letter file
	Records    int64
	Bytes      int64 // the file's size
	MinTime    int64 // earliest bucket time of the file's records, Unix ms; set when Records > 0
	MaxTime    int64 // latest bucket time of the file's records, Unix ms; set when Records > 0
	Duplicates int64
	Skewed     int64
	Invalid    int64
	// Revisions counts the data file's records by writer revision (output.NoRevision for
	// those that named none); nil for a dead-letter file or a heartbeat.
	Revisions map[string]int64
	// SchemaFingerprint is the fingerprint of the schema the data file was written with
	// (codec.Fingerprint): the writing job's reader schema, which a job updated in place
	// may have changed since.
	SchemaFingerprint string
}
