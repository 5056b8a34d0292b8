// Package message defines the elements that flow between the pipeline's transforms: the
// Pub/Sub message as read, the decoded event, and the dead letter.
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
}

// Message is one Pub/Sub message: its id, publish time, attributes and payload.
type Message struct {
	ID          string
	PublishTime int64 // Unix milliseconds
	Attributes  map[string]string
	Data        []byte
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
	Record      []byte // the record in Avro binary encoding of the event type's schema
}

// DeadLetter is a message the pipeline could not deliver, with the reason.
type DeadLetter struct {
	Message Message
	Reason  string
	Bucket  int64 // start of the bucket it is counted in; set by bucket.AssignDeadLetters
}
