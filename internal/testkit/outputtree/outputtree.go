// Package outputtree reads back what the pipeline wrote for an event type: every bucket with
// its manifest and records, and the dead letters. Tests, benchmarks and the demo use it.
package outputtree

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/codec"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/output"
)

// Bucket is one bucket folder.
type Bucket struct {
	Dir      string                      // relative to <root>/<event type>, e.g. 2026/11/20/10
	Manifest *output.Manifest            // nil while the bucket is open
	Files    map[string][]map[string]any // data file name → its records
	Schemas  map[string]string           // data file name → the schema in its header
}

// Records returns how many records the bucket's files hold.
func (b *Bucket) Records() int {
	n := 0
	for _, recs := range b.Files {
		n += len(recs)
	}
	return n
}

// Tree is an event type's output.
type Tree struct {
	Buckets     map[string]*Bucket          // by Dir
	DeadLetters map[string][]map[string]any // by folder relative to _deadletter
	Unreadable  []string                    // objects under _deadletter/unreadable
	Notices     map[string]output.Notice    // announcements of closes, by bucket folder
	Objects     map[string][]byte           // every object, by path relative to <root>/<event type>
}

// Dirs returns the bucket folders in order.
func (t *Tree) Dirs() []string { return slices.Sorted(maps.Keys(t.Buckets)) }

// Read reads everything under <root>/<eventType>.
func Read(ctx context.Context, root, eventType string) (*Tree, error) {
	st, err := objstore.Open(ctx, root)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	base := output.Join(root, eventType)
	names, err := st.Walk(ctx, base)
	if err != nil {
		return nil, err
	}
	t := &Tree{Buckets: map[string]*Bucket{}, DeadLetters: map[string][]map[string]any{}, Notices: map[string]output.Notice{}, Objects: map[string][]byte{}}
	for _, n := range names {
		rel := strings.TrimPrefix(strings.TrimPrefix(n, base), "/")
		data, err := st.Read(ctx, n)
		if err != nil {
			return nil, err
		}
		t.Objects[rel] = data
		dir, file := path.Split(rel)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case strings.HasPrefix(rel, "_deadletter/unreadable/"):
			t.Unreadable = append(t.Unreadable, string(data))
		case strings.HasPrefix(rel, output.NoticeFolder+"/"):
			var n output.Notice
			if err := json.Unmarshal(data, &n); err != nil || file != "notice.json" {
				return nil, fmt.Errorf("%s: not a notice (%v)", rel, err)
			}
			t.Notices[strings.TrimPrefix(dir, output.NoticeFolder+"/")] = n
		case strings.HasPrefix(rel, "_deadletter/"):
			_, recs, err := avrofile.Read(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", n, err)
			}
			d := strings.TrimPrefix(dir, "_deadletter/")
			for _, r := range recs {
				t.DeadLetters[d] = append(t.DeadLetters[d], r.(map[string]any))
			}
		default:
			b := t.Buckets[dir]
			if b == nil {
				b = &Bucket{Dir: dir, Files: map[string][]map[string]any{}, Schemas: map[string]string{}}
				t.Buckets[dir] = b
			}
			switch {
			case file == output.ManifestName:
				if b.Manifest, err = output.ParseManifest(data); err != nil {
					return nil, fmt.Errorf("%s: %w", n, err)
				}
			case strings.HasSuffix(file, ".avro"):
				schema, recs, err := avrofile.Read(data)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", n, err)
				}
				b.Schemas[file] = schema
				b.Files[file] = nil
				for _, r := range recs {
					b.Files[file] = append(b.Files[file], r.(map[string]any))
				}
			default:
				return nil, fmt.Errorf("%s: unexpected object in a bucket", n)
			}
		}
	}
	return t, nil
}

// Check returns every way the tree breaks the output contract: a manifest that does not
// validate against the format's JSON Schema (docs/manifest.schema.json), or whose files,
// counts or schema fingerprints differ from the folder's.
func (t *Tree) Check() []string {
	var problems []string
	schema, err := manifestSchema()
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, d := range slices.Sorted(maps.Keys(t.Notices)) {
		if b := t.Buckets[d]; b == nil || b.Manifest == nil {
			problems = append(problems, fmt.Sprintf("%s: a notice announces a bucket that is not closed", d))
		}
	}
	for _, d := range t.Dirs() {
		b := t.Buckets[d]
		if b.Manifest == nil {
			continue
		}
		if schema != nil {
			if err := validate(schema, t.Objects[path.Join(d, output.ManifestName)]); err != nil {
				problems = append(problems, fmt.Sprintf("%s: manifest does not validate against %s: %v", d, SchemaFile, err))
			}
		}
		sizes := map[string]int64{}
		for _, f := range b.Manifest.Files {
			sizes[f.Name] = f.Bytes
		}
		for _, f := range b.Manifest.DeadLetterFiles {
			sizes[path.Join(output.DeadLetterFolder, d, f.Name)] = f.Bytes
		}
		for name, n := range sizes {
			rel := name
			if !strings.HasPrefix(name, output.DeadLetterFolder+"/") {
				rel = path.Join(d, name)
			}
			if obj, ok := t.Objects[rel]; ok && int64(len(obj)) != n {
				problems = append(problems, fmt.Sprintf("%s: manifest says %s has %d bytes, it has %d", d, rel, n, len(obj)))
			}
		}
		listed := map[string]int64{}
		var sum int64
		for _, f := range b.Manifest.Files {
			listed[f.Name] = f.Records
			sum += f.Records
		}
		if sum != b.Manifest.Records {
			problems = append(problems, fmt.Sprintf("%s: manifest records %d, its files sum to %d", d, b.Manifest.Records, sum))
		}
		for name, recs := range b.Files {
			n, ok := listed[name]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: file %s not in the manifest", d, name))
			case n != int64(len(recs)):
				problems = append(problems, fmt.Sprintf("%s: manifest says %s has %d records, it has %d", d, name, n, len(recs)))
			}
		}
		for name := range listed {
			if _, ok := b.Files[name]; !ok {
				problems = append(problems, fmt.Sprintf("%s: manifest lists %s, which does not exist", d, name))
			}
		}
		problems = append(problems, b.checkSchemas(t.Objects)...)
		if err := inLayout(d, b.Manifest); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", d, err))
		}
		var dead int64
		for _, f := range b.Manifest.DeadLetterFiles {
			dead += f.Records
		}
		if n := int64(len(t.DeadLetters[d])); dead != b.Manifest.Invalid || n != dead {
			problems = append(problems, fmt.Sprintf("%s: manifest counts %d invalid in dead-letter files of %d records; the dead-letter folder holds %d", d, b.Manifest.Invalid, dead, n))
		}
	}
	return problems
}

// checkSchemas holds the manifest's records_by_revision, where present, to the records in
// the bucket's files (the manifest's records, which Check holds to them too) and to the
// revision counts in the files' headers, and each file's schema_fingerprint, where
// present, to the schema in the file's header.
func (b *Bucket) checkSchemas(objects map[string][]byte) []string {
	var problems []string
	m := b.Manifest
	fromFiles, counted := map[string]int64{}, true
	for _, f := range m.Files {
		data, ok := objects[path.Join(b.Dir, f.Name)]
		if !ok {
			continue // reported with the files
		}
		info, err := avrofile.Stat(data)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %v", b.Dir, f.Name, err))
			continue
		}
		if f.SchemaFingerprint != "" {
			fp, err := codec.Fingerprint(string(info.Meta["avro.schema"]))
			if err != nil || fp != f.SchemaFingerprint {
				problems = append(problems, fmt.Sprintf("%s: manifest says %s has schema %s, its header's is %s (%v)", b.Dir, f.Name, f.SchemaFingerprint, fp, err))
			}
		}
		revs, ok, err := output.ParseRevisionsMeta(info.Meta[output.MetaRevisions])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %v", b.Dir, f.Name, err))
		}
		counted = counted && ok
		for rev, n := range revs {
			fromFiles[rev] += n
		}
	}
	if m.RecordsByRevision == nil {
		return problems
	}
	var sum int64
	for _, n := range m.RecordsByRevision {
		sum += n
	}
	switch {
	case sum != int64(b.Records()):
		problems = append(problems, fmt.Sprintf("%s: the bucket's files hold %d records, its manifest's records_by_revision sum to %d", b.Dir, b.Records(), sum))
	case counted && !maps.Equal(fromFiles, m.RecordsByRevision):
		problems = append(problems, fmt.Sprintf("%s: manifest records_by_revision %v, its files' headers count %v", b.Dir, m.RecordsByRevision, fromFiles))
	}
	return problems
}

// inLayout checks that the bucket's folder d is where the manifest's layout puts its bucket.
func inLayout(d string, m *output.Manifest) error {
	start, err1 := time.Parse(time.RFC3339, m.BucketStart)
	end, err2 := time.Parse(time.RFC3339, m.BucketEnd)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("manifest bucket %s..%s is not RFC3339", m.BucketStart, m.BucketEnd)
	}
	l := output.Layout{Width: end.Sub(start), Paths: m.Layout}
	if got, err := l.ParseDir(d); err != nil || got != start.UnixMilli() {
		return fmt.Errorf("manifest of bucket %s in layout %s belongs in %s", m.BucketStart, m.Layout, l.RelDir(start.UnixMilli()))
	}
	return nil
}

// SchemaFile is the manifest format's JSON Schema, relative to the module's root.
const SchemaFile = "docs/manifest.schema.json"

var (
	schemaOnce sync.Once
	compiled   *jsonschema.Schema
	schemaErr  error
)

// manifestSchema compiles SchemaFile, found next to this package's source (the tree is read
// by tests and tools that run in the module).
func manifestSchema() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		_, src, _, _ := runtime.Caller(0)
		file := filepath.Join(filepath.Dir(src), "..", "..", "..", filepath.FromSlash(SchemaFile))
		data, err := os.ReadFile(file)
		if err != nil {
			schemaErr = fmt.Errorf("manifest schema: %w", err)
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			schemaErr = fmt.Errorf("manifest schema %s: %w", file, err)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource(SchemaFile, doc); err != nil {
			schemaErr = fmt.Errorf("manifest schema %s: %w", file, err)
			return
		}
		compiled, schemaErr = c.Compile(SchemaFile)
	})
	return compiled, schemaErr
}

// ValidateManifest checks a manifest's bytes against the format's JSON Schema.
func ValidateManifest(data []byte) error {
	s, err := manifestSchema()
	if err != nil {
		return err
	}
	return validate(s, data)
}

func validate(s *jsonschema.Schema, data []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}
