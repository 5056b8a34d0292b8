// Package objstore reads and writes whole objects on any of Beam's filesystems (local disk,
// gs:// through Cloud Storage), with the few operations the pipeline needs.
package objstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs:// paths
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths
)

// Store is a filesystem opened for one root path.
type Store struct {
	fs    filesystem.Interface
	local bool
}

// Open returns the store that serves paths like root.
func Open(ctx context.Context, root string) (*Store, error) {
	fs, err := filesystem.New(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	return &Store{fs: fs, local: !strings.Contains(root, "://")}, nil
}

// Close releases the filesystem's clients. A nil Store (a DoFn whose Setup failed) closes
// as nothing.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	return s.fs.Close()
}

// Exists reports whether the object at path exists. Errors other than absence are returned,
// so that a failing store is never mistaken for an empty one.
func (s *Store) Exists(ctx context.Context, path string) (bool, error) {
	if s.local {
		_, err := os.Stat(path)
		if os.IsNotExist(err) {
			return false, nil
		}
		return err == nil, err
	}
	names, err := s.fs.List(ctx, path)
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	for _, n := range names {
		if n == path {
			return true, nil
		}
	}
	return false, nil
}

// List returns the objects matching glob, sorted by the filesystem.
func (s *Store) List(ctx context.Context, glob string) ([]string, error) {
	names, err := s.fs.List(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", glob, err)
	}
	return names, nil
}

// Walk returns every object under prefix (a folder or a gs:// URL), at any depth.
func (s *Store) Walk(ctx context.Context, prefix string) ([]string, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	if !s.local {
		return s.List(ctx, prefix+"/**")
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

// Read returns the whole object at path.
func (s *Store) Read(ctx context.Context, path string) ([]byte, error) {
	r, err := s.fs.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
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
	if s.local {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if _, err := tmp.Write(data); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := tmp.Close(); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	w, err := s.fs.OpenWrite(ctx, path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
