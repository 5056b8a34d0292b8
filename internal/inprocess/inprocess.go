// Package inprocess hands objects of the pipeline's own process to its DoFns: DoFns are
// serialized, so they keep a key and look the object up here. It works where the DoFns run
// in the process that registered the object: Prism (in-process, loopback workers) and the
// other loopback runners; elsewhere a key finds nothing.
package inprocess

import (
	"strconv"
	"sync"
	"sync/atomic"
)

// Registry holds objects of type T by key.
type Registry[T any] struct {
	prefix string
	seq    atomic.Int64
	mu     sync.Mutex
	m      map[string]T
}

// NewRegistry returns an empty registry whose keys start with prefix.
func NewRegistry[T any](prefix string) *Registry[T] {
	return &Registry[T]{prefix: prefix, m: map[string]T{}}
}

// Add registers v under a new key and returns the key.
func (r *Registry[T]) Add(v T) string {
	key := r.prefix + "-" + strconv.FormatInt(r.seq.Add(1), 10)
	r.mu.Lock()
	r.m[key] = v
	r.mu.Unlock()
	return key
}

// Get returns what is registered under key; ok is false for an unknown or empty key.
func (r *Registry[T]) Get(key string) (v T, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok = r.m[key]
	return v, ok
}

// Remove forgets key.
func (r *Registry[T]) Remove(key string) {
	r.mu.Lock()
	delete(r.m, key)
	r.mu.Unlock()
}
