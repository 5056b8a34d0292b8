package codec

import (
	"fmt"
	"strings"
)

// Kind is where a value of an event comes from.
type Kind int

const (
	PublishTime Kind = iota // the Pub/Sub publish time
	Attribute               // a message attribute
	Field                   // a field of the record (dotted for nested records)
)

// Source names where the event id or the bucket time comes from.
type Source struct {
	Kind Kind
	Name string
}

// ParseSource parses publish_time, attribute:NAME or field:NAME.
func ParseSource(s string) (Source, error) {
	if s == "publish_time" {
		return Source{Kind: PublishTime}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return Source{}, fmt.Errorf("%q: want publish_time, attribute:NAME or field:NAME", s)
	}
	switch kind {
	case "attribute":
		return Source{Kind: Attribute, Name: name}, nil
	case "field":
		return Source{Kind: Field, Name: name}, nil
	}
	return Source{}, fmt.Errorf("%q: want publish_time, attribute:NAME or field:NAME", s)
}

// String returns the source in ParseSource's syntax.
func (s Source) String() string {
	switch s.Kind {
	case Attribute:
		return "attribute:" + s.Name
	case Field:
		return "field:" + s.Name
	}
	return "publish_time"
}
