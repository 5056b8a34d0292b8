// Package objstore reads and writes whole objects on local disk or, for gs:// paths, on
// Cloud Storage, with the few operations the pipeline and the launcher need. It does not
// link Beam: Cloud Storage goes through Google's storage client (which honours
// STORAGE_EMULATOR_HOST, so fake-gcs-server works), local paths through package os.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// Store serves the paths of one root: a local folder, or gs:// URLs.
type Store struct {
	gcs *storage.Client // nil for local paths
}

// Open returns the store that serves paths like root: local disk for a plain path, Cloud
// Storage for a gs:// URL. Without credentials it falls back to unauthenticated access
// (public buckets, emulators), as Beam's gs:// filesystem does.
func Open(ctx context.Context, root string) (*Store, error) {
	if !strings.Contains(root, "://") {
		return &Store{}, nil
	}
	if !strings.HasPrefix(root, "gs://") {
		return nil, fmt.Errorf("open %s: only local paths and gs:// URLs are supported", root)
	}
	c, err := storage.NewClient(ctx, option.WithScopes(storage.ScopeReadWrite))
	if err != nil {
		slog.Warn("no Cloud Storage credentials; falling back to unauthenticated access", "root", root, "error", err)
		if c, err = storage.NewClient(ctx, option.WithoutAuthentication()); err != nil {
			return nil, fmt.Errorf("open %s: %w", root, err)
		}
	}
	return &Store{gcs: c}, nil
}

// Close releases the store's clients. A nil Store (a DoFn whose Setup failed) closes as
// nothing.
func (s *Store) Close() error {
	if s == nil || s.gcs == nil {
		return nil
	}
	return s.gcs.Close()
}

// object returns the Cloud Storage object of a gs:// path.
func (s *Store) object(p string) (*storage.ObjectHandle, error) {
	b, name, err := parse(p)
	if err != nil {
		return nil, err
	}
	return s.gcs.Bucket(b).Object(name), nil
}

// parse splits gs://bucket/name.
func parse(p string) (bucket, name string, err error) {
	rest, ok := strings.CutPrefix(p, "gs://")
	if !ok {
		return "", "", fmt.Errorf("%s is not a gs:// path", p)
	}
	bucket, name, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%s: no bucket", p)
	}
	return bucket, name, nil
}

// Exists reports whether the object at path exists. Errors other than absence are returned,
// so that a failing store is never mistaken for an empty one.
func (s *Store) Exists(ctx context.Context, path string) (bool, error) {
	if s.gcs == nil {
		_, err := os.Stat(path)
		if os.IsNotExist(err) {
			return false, nil
		}
		return err == nil, err
	}
	o, err := s.object(path)
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	if _, err := o.Attrs(ctx); err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return true, nil
}

// List returns the objects matching glob, in name order. A * matches any run of characters
// other than '/', as in path.Match.
func (s *Store) List(ctx context.Context, glob string) ([]string, error) {
	if s.gcs == nil {
		names, err := filepath.Glob(glob)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", glob, err)
		}
		return names, nil
	}
	b, pattern, err := parse(glob)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", glob, err)
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("list %s: %w", glob, err)
	}
	prefix := pattern
	if i := strings.IndexAny(pattern, `*?[\`); i >= 0 {
		prefix = pattern[:i]
	}
	names, err := s.listPrefix(ctx, b, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", glob, err)
	}
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(pattern, n); ok {
			out = append(out, "gs://"+b+"/"+n)
		}
	}
	return out, nil
}

// listPrefix returns the names of the objects of bucket b that start with prefix.
func (s *Store) listPrefix(ctx context.Context, b, prefix string) ([]string, error) {
	it := s.gcs.Bucket(b).Objects(ctx, &storage.Query{Prefix: prefix})
	var names []string
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names = append(names, a.Name)
	}
}

// Walk returns every object under prefix (a folder or a gs:// URL), at any depth.
func (s *Store) Walk(ctx context.Context, prefix string) ([]string, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	if s.gcs != nil {
		b, dir, err := parse(prefix + "/")
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", prefix, err)
		}
		names, err := s.listPrefix(ctx, b, dir)
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", prefix, err)
		}
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = "gs://" + b + "/" + n
		}
		return out, nil
	}
	var out []string
	err := filepath.WalkDir(prefix, func(p string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", prefix, err)
	}
	return out, nil
}

// CrashEnv names, for fault tests, a file name pattern (path.Match, e.g. _SUCCESS): the
// process kills itself (SIGKILL) once it has written such a file aside on disk and before
// renaming it into place, as a crash in the middle of a write would.
const CrashEnv = "EVENTDELIVERY_TEST_CRASH_WRITING"

func crashBeforeRename(path string) {
	pattern := os.Getenv(CrashEnv)
	if pattern == "" {
		return
	}
	if ok, _ := filepath.Match(pattern, filepath.Base(path)); ok {
		p, _ := os.FindProcess(os.Getpid())
		p.Kill()
		select {} // the kill is asynchronous; go no further
	}
}

// RemoveTemps removes what writes that never finished left in dir: on disk, files written
// aside (.tmp-*) by a process that died before renaming them. Cloud Storage leaves none.
func (s *Store) RemoveTemps(ctx context.Context, dir string) error {
	if s.gcs != nil {
		return nil
	}
	temps, err := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if err != nil {
		return fmt.Errorf("list temporary files in %s: %w", dir, err)
	}
	for _, p := range temps {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// Remove deletes the object at path; one already gone is no error. Only a replay run again
// under its run id removes anything: the files an earlier attempt of it left in a bucket
// that it did not close (see output.Target.Rerun).
func (s *Store) Remove(ctx context.Context, path string) error {
	if s.gcs == nil {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	o, err := s.object(path)
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if err := o.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// OpenRead opens the object at path for reading from its start, for readers that need only
// its beginning (an Avro file's header).
func (s *Store) OpenRead(ctx context.Context, path string) (io.ReadCloser, error) {
	r, _, err := s.OpenReadSize(ctx, path)
	return r, err
}

// OpenReadSize is OpenRead that also returns the object's size in bytes, known from the
// open itself (no second call), for a reader that shows how far it has come.
func (s *Store) OpenReadSize(ctx context.Context, path string) (io.ReadCloser, int64, error) {
	if s.gcs == nil {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", path, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("read %s: %w", path, err)
		}
		return f, fi.Size(), nil
	}
	o, err := s.object(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	r, err := o.NewReader(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return r, r.Attrs.Size, nil
}

// Read returns the whole object at path.
func (s *Store) Read(ctx context.Context, path string) ([]byte, error) {
	r, err := s.OpenRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// Write stores data at path in one piece: readers see the old object or the new one, never
// a part (Cloud Storage objects are atomic; on disk the file is written aside and renamed).
func (s *Store) Write(ctx context.Context, path string, data []byte) error {
	if s.gcs == nil {
		if err := writeLocal(path, data); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	o, err := s.object(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := WriteAndClose(o.NewWriter(ctx), data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteAndClose writes data to w and closes it, after a failed write too. A Cloud Storage
// writer commits the object on Close: it exists once WriteAndClose returns nil.
func WriteAndClose(w io.WriteCloser, data []byte) error {
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// writeLocal writes data beside path and renames it into place.
func writeLocal(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	// On disk before the rename: what was written is acked to Pub/Sub right after.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	crashBeforeRename(path)
	return os.Rename(tmp.Name(), path)
}
