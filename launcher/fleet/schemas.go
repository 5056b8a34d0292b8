package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/internal/revisions"
)

// TopicSchema is what a subscription's topic says of its schema: Pub/Sub's schema settings.
type TopicSchema struct {
	Topic string
	// Schema is the topic's schema, projects/P/schemas/S; empty when the topic has none.
	Schema string
	// FirstRevision and LastRevision bound the revisions the topic accepts, both included;
	// an empty bound is the oldest (first) or newest (last) revision.
	FirstRevision, LastRevision string
}

// SchemaRevision is one revision of a Pub/Sub schema.
type SchemaRevision = revisions.Revision

// SchemaSource reads Pub/Sub's schema settings and revisions; launcher/pubsubschema
// implements it with Google's client. Its errors wrap ErrNotFound when what was asked for
// does not exist: that is a problem of the fleet file, not an API error.
type SchemaSource interface {
	// TopicSchema returns the schema settings of the topic of a subscription
	// (projects/P/subscriptions/S).
	TopicSchema(ctx context.Context, subscription string) (TopicSchema, error)
	// Revisions returns every revision of a schema (projects/P/schemas/S), in any order.
	Revisions(ctx context.Context, schema string) ([]SchemaRevision, error)
}

// ErrNotFound is what a SchemaSource's errors wrap when a subscription, topic or schema
// does not exist.
var ErrNotFound = errors.New("not found")

// CheckSchemas checks, for every event type whose schema is a Pub/Sub schema or whose
// subscription's topic has a schema, that its reader schema (the schema file, or the Pub/Sub
// schema's named or newest revision) can read every revision still accepted by Avro's
// resolution rules: the revisions in the topic's range, or every revision of the event
// type's Pub/Sub schema when its topic has no schema. A schema file without
// schema_revisions must moreover be the only schema in the range: the job would decode the
// others' messages with it. What it finds wrong are problems at
// the event type's schema line, in line order; an error of src (an API it cannot reach)
// stops the check: nothing is skipped silently. It reads src [SchemaParallelism] calls at
// once. `launcher validate --schemas` calls it.
func (f *Fleet) CheckSchemas(ctx context.Context, src SchemaSource) ([]Problem, error) {
	src = prefetch(ctx, f, src, SchemaParallelism)
	var problems []Problem
	listed := func(schema string) ([]SchemaRevision, error) { // oldest first
		r, err := src.Revisions(ctx, schema)
		if err != nil {
			return nil, fmt.Errorf("schema %s: list revisions: %w", schema, err)
		}
		return r, nil
	}
	for i, et := range f.EventTypes {
		field := fmt.Sprintf("event_types[%d].schema", i)
		add := func(format string, args ...any) {
			problems = append(problems, Problem{File: f.Path, Line: et.SchemaLine, Field: field, Msg: fmt.Sprintf(format, args...)})
		}
		ts, err := src.TopicSchema(ctx, et.Subscription)
		if errors.Is(err, ErrNotFound) {
			problems = append(problems, Problem{File: f.Path, Line: et.SubscriptionLine, Field: fmt.Sprintf("event_types[%d].subscription", i),
				Msg: fmt.Sprintf("subscription %s: %v", et.Subscription, err)})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: subscription %s: %w", f.Path, et.SchemaLine, field, et.Subscription, err)
		}
		reader, readerName := et.SchemaJSON, et.Schema
		why := fmt.Sprintf("which the topic %s accepts", ts.Topic)
		if IsPubSubSchema(et.Schema) {
			name, want, _ := strings.Cut(et.Schema, "@")
			all, err := listed(name)
			if errors.Is(err, ErrNotFound) {
				add("%v", err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", f.Path, et.SchemaLine, field, err)
			}
			r, err := revisions.Pick(all, want)
			if err != nil {
				add("Pub/Sub schema %s: %v", name, err)
				continue
			}
			reader, readerName = r.Definition, name+"@"+r.ID
			switch {
			case ts.Schema == "":
				// No topic schema: every revision is a writer the job knows.
				ts = TopicSchema{Topic: ts.Topic, Schema: name}
				why = "a writer the job knows (the topic " + ts.Topic + " has no schema settings)"
			case ts.Schema != name:
				add("the topic %s of %s has the schema %s, not %s: the job knows none of its revisions", ts.Topic, et.Subscription, ts.Schema, name)
				continue
			}
		} else if ts.Schema == "" {
			continue
		}
		if reader == "" {
			continue // the schema file's own problem is reported by Load
		}
		all, err := listed(ts.Schema)
		if errors.Is(err, ErrNotFound) {
			add("the topic %s's %v", ts.Topic, err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", f.Path, et.SchemaLine, field, err)
		}
		if len(all) == 0 {
			add("the topic %s's schema %s has no revisions", ts.Topic, ts.Schema)
			continue
		}
		inRange, msg := accepted(all, ts)
		if msg != "" {
			add("%s", msg)
			continue
		}
		var unknown []string // revisions the job would decode with the reader schema
		for _, r := range inRange {
			if err := codec.Compatible(reader, r.Definition); err != nil {
				add("schema %s cannot read revision %s of %s, %s: %v", readerName, r.ID, ts.Schema, why, err)
			} else if !IsPubSubSchema(et.Schema) && et.SchemaRevisions == "" && !sameSchema(reader, r.Definition) {
				unknown = append(unknown, r.ID)
			}
		}
		if len(unknown) > 0 {
			add("the topic %s accepts revisions of %s other than schema %s (%s), and without schema_revisions the job ignores a message's revision and decodes it with %s: list them in schema_revisions, or name the Pub/Sub schema as schema",
				ts.Topic, ts.Schema, et.Schema, strings.Join(unknown, ", "), et.Schema)
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
	return problems, nil
}

// accepted returns the revisions (oldest first) in the topic's range, or why the range
// names revisions the schema does not have.
func accepted(all []SchemaRevision, ts TopicSchema) ([]SchemaRevision, string) {
	first, last := 0, len(all)-1
	find := func(id, bound string) (int, string) {
		j := slices.IndexFunc(all, func(r SchemaRevision) bool { return r.ID == id })
		if j < 0 {
			return 0, fmt.Sprintf("the topic %s's %s %s is not a revision of %s", ts.Topic, bound, id, ts.Schema)
		}
		return j, ""
	}
	if ts.FirstRevision != "" {
		j, msg := find(ts.FirstRevision, "first_revision_id")
		if msg != "" {
			return nil, msg
		}
		first = j
	}
	if ts.LastRevision != "" {
		j, msg := find(ts.LastRevision, "last_revision_id")
		if msg != "" {
			return nil, msg
		}
		last = j
	}
	if first > last {
		return nil, fmt.Sprintf("the topic %s accepts no revision of %s: first_revision_id %s is newer than last_revision_id %s", ts.Topic, ts.Schema, ts.FirstRevision, ts.LastRevision)
	}
	return all[first : last+1], ""
}

// sameSchema reports whether two schemas have the same Parsing Canonical Form.
func sameSchema(a, b string) bool {
	fa, err := codec.Fingerprint(a)
	if err != nil {
		return a == b
	}
	fb, err := codec.Fingerprint(b)
	return err == nil && fa == fb
}
