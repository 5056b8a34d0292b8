// Package revisions finds an event type's reader schema and the writer schema revisions its
// messages may name: in Pub/Sub's schema service (projects/P/schemas/S, its newest
// revision the reader, or projects/P/schemas/S@REVISION) or in a folder of
// <revision_id>.avsc files, for offline replays and tests. It links no Beam.
package revisions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	pubsub "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
)

// Set is an event type's reader schema and the revisions it knows as writers.
type Set struct {
	Reader         string            // the reader schema, JSON
	ReaderRevision string            // its revision id, when it is a Pub/Sub revision
	Revisions      map[string]string // revision id → schema JSON
}

var nameRe = regexp.MustCompile(`^projects/[^/@]+/schemas/[^/@]+(@[^/@]+)?$`)

// IsPubSub reports whether name is a Pub/Sub schema, projects/P/schemas/S[@REVISION],
// rather than a file.
func IsPubSub(name string) bool { return strings.HasPrefix(name, "projects/") }

// FromPubSub reads every revision of the Pub/Sub schema name (projects/P/schemas/S, reader
// its newest revision, or projects/P/schemas/S@REVISION) with Pub/Sub's schema client.
// It honours PUBSUB_EMULATOR_HOST as Google's Pub/Sub client does; opts come after.
func FromPubSub(ctx context.Context, name string, opts ...option.ClientOption) (Set, error) {
	if !nameRe.MatchString(name) {
		return Set{}, fmt.Errorf("schema %q: want projects/P/schemas/S or projects/P/schemas/S@REVISION", name)
	}
	schema, want, _ := strings.Cut(name, "@")
	c, err := pubsub.NewSchemaClient(ctx, append(ClientOptions(os.Getenv("PUBSUB_EMULATOR_HOST")), opts...)...)
	if err != nil {
		return Set{}, fmt.Errorf("schema %s: %w", name, err)
	}
	defer c.Close()
	all, err := List(ctx, c, schema)
	if err != nil {
		return Set{}, fmt.Errorf("schema %s: %w", name, err)
	}
	reader, err := Pick(all, want)
	if err != nil {
		return Set{}, fmt.Errorf("schema %s: %w", name, err)
	}
	set := Set{Reader: reader.Definition, ReaderRevision: reader.ID, Revisions: map[string]string{}}
	for _, r := range all {
		set.Revisions[r.ID] = r.Definition
	}
	return set, nil
}

// Revision is one revision of a Pub/Sub schema.
type Revision struct {
	ID         string
	Definition string // the Avro schema, JSON
	Created    time.Time
}

// ClientOptions returns the options that point Google's Pub/Sub clients at an emulator
// (PUBSUB_EMULATOR_HOST, e.g. pstest): plain gRPC, no credentials. None when host is "".
func ClientOptions(host string) []option.ClientOption {
	if host == "" {
		return nil
	}
	return []option.ClientOption{option.WithEndpoint(host), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
}

// List returns every revision of schema (projects/P/schemas/S), oldest first; each must be
// an Avro schema.
func List(ctx context.Context, c *pubsub.SchemaClient, schema string) ([]Revision, error) {
	var out []Revision
	it := c.ListSchemaRevisions(ctx, &pubsubpb.ListSchemaRevisionsRequest{Name: schema, View: pubsubpb.SchemaView_FULL})
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list revisions: %w", err)
		}
		if s.Type != pubsubpb.Schema_AVRO {
			return nil, fmt.Errorf("revision %s is %s, not AVRO", s.RevisionId, s.Type)
		}
		out = append(out, Revision{ID: s.RevisionId, Definition: s.Definition, Created: s.RevisionCreateTime.AsTime()})
	}
	slices.SortStableFunc(out, func(a, b Revision) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// Pick returns the revision want of all (oldest first, as List returns them), or the
// newest when want is "".
func Pick(all []Revision, want string) (Revision, error) {
	if len(all) == 0 {
		return Revision{}, errors.New("no revisions")
	}
	if want == "" {
		return all[len(all)-1], nil
	}
	j := slices.IndexFunc(all, func(r Revision) bool { return r.ID == want })
	if j < 0 {
		return Revision{}, fmt.Errorf("no revision %s among its %d", want, len(all))
	}
	return all[j], nil
}

// FromDir reads the revisions in dir (a local folder or gs:// URL): each <revision_id>.avsc
// file is one revision. A revision id must not start with '_' (as Pub/Sub's never do), the
// manifests' key for records of no revision.
func FromDir(ctx context.Context, dir string) (map[string]string, error) {
	st, err := objstore.Open(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("schema revisions %s: %w", dir, err)
	}
	defer st.Close()
	names, err := st.List(ctx, strings.TrimSuffix(dir, "/")+"/*.avsc")
	if err != nil {
		return nil, fmt.Errorf("schema revisions %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("schema revisions %s: no <revision_id>.avsc files", dir)
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		id := strings.TrimSuffix(path.Base(n), ".avsc")
		if strings.HasPrefix(id, "_") {
			// Manifests count records that named no revision under output.NoRevision.
			return nil, fmt.Errorf("schema revisions %s: %s: a revision id must not start with '_'", dir, path.Base(n))
		}
		b, err := st.Read(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("schema revisions %s: %w", dir, err)
		}
		out[id] = string(b)
	}
	return out, nil
}
