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

// Find returns what is registered under key, or the zero T (nil) for an unknown key.
func (r *Registry[T]) Find(key string) T {
	v, _ := r.Get(key)
	return v
}

// Register registers v under a new key and sets entry, the Entry that v embeds, to it.
func (r *Registry[T]) Register(v T, entry *Entry) {
	*entry = Entry{key: r.Add(v), remove: r.Remove}
}

// Entry is embedded by an object that registers itself ([Registry.Register]): it keeps
// the object's key.
type Entry struct {
	key    string
	remove func(key string)
}

// Key names the object in this process, for the DoFns' configuration.
func (e *Entry) Key() string { return e.key }

// Release forgets the object once its pipeline has finished.
func (e *Entry) Release() { e.remove(e.key) }
