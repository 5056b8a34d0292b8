package fleet

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/eventdelivery/eventdelivery/launcher/internal/gcpclient"
)

// SchemaParallelism is how many Pub/Sub calls CheckSchemas makes at once: a fleet of
// hundreds of event types is two calls each, which one after the other take minutes.
const SchemaParallelism = 16

// fetched is a SchemaSource that answers from what it read of src beforehand, at most
// parallelism calls at once: every subscription's topic settings, then every schema those
// and the fleet file name, each once; its revisions oldest first. What it did not read (ctx
// ended) it asks src for.
type fetched struct {
	src    SchemaSource
	topics map[string]answer[TopicSchema]
	revs   map[string]answer[[]SchemaRevision]
}

type answer[T any] struct {
	v   T
	err error
}

func prefetch(ctx context.Context, f *Fleet, src SchemaSource, parallelism int) *fetched {
	fs := &fetched{src: src}
	var subs []string
	for _, et := range f.EventTypes {
		subs = append(subs, et.Subscription)
	}
	fs.topics = fetchAll(ctx, subs, parallelism, src.TopicSchema)
	var schemas []string
	for _, et := range f.EventTypes {
		if IsPubSubSchema(et.Schema) {
			name, _, _ := strings.Cut(et.Schema, "@")
			schemas = append(schemas, name)
		}
		if a, ok := fs.topics[et.Subscription]; ok && a.err == nil && a.v.Schema != "" {
			schemas = append(schemas, a.v.Schema)
		}
	}
	fs.revs = fetchAll(ctx, schemas, parallelism, fs.oldestFirst)
	return fs
}

// oldestFirst lists schema's revisions in the order they were created: Pub/Sub's API lists
// them newest first, pstest oldest first.
func (fs *fetched) oldestFirst(ctx context.Context, schema string) ([]SchemaRevision, error) {
	r, err := fs.src.Revisions(ctx, schema)
	if err != nil {
		return nil, err
	}
	r = slices.Clone(r)
	slices.SortStableFunc(r, func(a, b SchemaRevision) int { return a.Created.Compare(b.Created) })
	return r, nil
}

// fetchAll calls get for every distinct key, at most parallelism at once, in order; keys not
// reached when ctx ends are left out.
func fetchAll[T any](ctx context.Context, keys []string, parallelism int, get func(context.Context, string) (T, error)) map[string]answer[T] {
	var distinct []string
	for _, k := range keys {
		if !slices.Contains(distinct, k) {
			distinct = append(distinct, k)
		}
	}
	out := map[string]answer[T]{}
	var mu sync.Mutex
	gcpclient.NewLimiter(parallelism).Each(ctx, len(distinct), func(i int) {
		v, err := get(ctx, distinct[i])
		mu.Lock()
		out[distinct[i]] = answer[T]{v, err}
		mu.Unlock()
	})
	return out
}

func (fs *fetched) TopicSchema(ctx context.Context, subscription string) (TopicSchema, error) {
	if a, ok := fs.topics[subscription]; ok {
		return a.v, a.err
	}
	return fs.src.TopicSchema(ctx, subscription)
}

func (fs *fetched) Revisions(ctx context.Context, schema string) ([]SchemaRevision, error) {
	if a, ok := fs.revs[schema]; ok {
		return a.v, a.err
	}
	return fs.oldestFirst(ctx, schema)
}
