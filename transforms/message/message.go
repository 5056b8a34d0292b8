// Package message defines the Pub/Sub message as every stage of the pipeline sees it,
// whether it came from a replay file or from a live subscription.
package message

import (
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Message)(nil)).Elem())
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
