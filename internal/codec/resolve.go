package codec

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/linkedin/goavro/v2"
)

// RevisionAttribute is the Pub/Sub attribute that names the schema revision a message was
// published with.
const RevisionAttribute = "googclient_schemarevisionid"

// writer is one known schema revision, ready to read its messages into the reader schema.
type writer struct {
	identity bool          // same Parsing Canonical Form as the reader: read as the reader
	strict   *node         // the revision's strict checks
	codec    *goavro.Codec // the revision's JSON decoding
	resolved avro.Schema   // reads the revision's binary into the reader schema's shape
	refused  string        // why the revision cannot be read as the reader schema
	reader   avro.Schema   // the reader schema, to write the record in
}

// parse parses an Avro schema with a cache of its own, so that revisions naming the same
// records do not meet in hamba's global cache.
func parse(schema string) (avro.Schema, error) {
	return avro.ParseWithCache(schema, "", &avro.SchemaCache{})
}

// Fingerprint returns the SHA-256 of the schema's Parsing Canonical Form, in hex: what a
// manifest records of the schema its files carry.
func Fingerprint(schema string) (string, error) {
	s, err := parse(schema)
	if err != nil {
		return "", fmt.Errorf("schema: %w", err)
	}
	fp := s.Fingerprint()
	return hex.EncodeToString(fp[:]), nil
}

// writers prepares every known revision against the reader schema. A revision that cannot
// be resolved is kept with the reason: its messages become dead letters.
func writers(reader string, revisions map[string]string) (map[string]*writer, error) {
	if len(revisions) == 0 {
		return nil, nil
	}
	rs, err := parse(reader)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	out := make(map[string]*writer, len(revisions))
	for id, text := range revisions {
		ws, err := parse(text)
		if err != nil {
			return nil, fmt.Errorf("schema revision %q: %w", id, err)
		}
		w := &writer{reader: rs, identity: ws.Fingerprint() == rs.Fingerprint()}
		out[id] = w
		if w.identity {
			continue
		}
		if w.strict, err = compile(text); err != nil {
			return nil, fmt.Errorf("schema revision %q: %w", id, err)
		}
		if w.codec, err = goavro.NewCodec(text); err != nil {
			return nil, fmt.Errorf("schema revision %q: %w", id, err)
		}
		if err := Compatible(reader, text); err != nil {
			w.refused = err.Error()
			continue
		}
		if w.resolved, err = avro.NewSchemaCompatibility().Resolve(rs, ws); err != nil {
			w.refused = err.Error()
		}
	}
	return out, nil
}

// toReader turns a message of revision id into the reader schema's Avro binary, checking
// it strictly in its revision first, or returns why it cannot.
func (w *writer) toReader(id string, data []byte, json bool) ([]byte, string) {
	if w.refused != "" {
		return nil, fmt.Sprintf("schema revision %q cannot be read as the reader schema: %s", id, w.refused)
	}
	bin := data
	if json {
		native, rest, err := w.codec.NativeFromTextual(data)
		if err != nil {
			return nil, fmt.Sprintf("schema revision %q: undecodable: %v", id, err)
		}
		if n := len(strings.TrimSpace(string(rest))); n > 0 {
			return nil, fmt.Sprintf("schema revision %q: trailing bytes: %d after the record", id, n)
		}
		if bin, err = w.codec.BinaryFromNative(nil, native); err != nil {
			return nil, fmt.Sprintf("schema revision %q: undecodable: %v", id, err)
		}
	}
	if err := check(w.strict, bin); err != nil {
		return nil, fmt.Sprintf("schema revision %q: %v", id, err)
	}
	var v any
	if err := avro.Unmarshal(w.resolved, bin, &v); err != nil {
		return nil, fmt.Sprintf("schema revision %q: undecodable: %v", id, err)
	}
	rec, err := avro.Marshal(w.reader, v)
	if err != nil {
		return nil, fmt.Sprintf("schema revision %q: not readable as the reader schema: %v", id, err)
	}
	return rec, ""
}

// Compatible reports whether a reader schema can read every record of a writer schema by
// Avro's resolution rules; the error names the field at fault (`field device.os: …`).
func Compatible(reader, writer string) error {
	rs, err := parse(reader)
	if err != nil {
		return fmt.Errorf("reader schema: %w", err)
	}
	ws, err := parse(writer)
	if err != nil {
		return fmt.Errorf("writer schema: %w", err)
	}
	return compatible(rs, ws, "")
}

func compatible(r, w avro.Schema, path string) error {
	err := avro.NewSchemaCompatibility().Compatible(r, w)
	if err == nil {
		return nil
	}
	rr, ok1 := r.(*avro.RecordSchema)
	wr, ok2 := w.(*avro.RecordSchema)
	if !ok1 || !ok2 {
		if path == "" {
			return err
		}
		return fmt.Errorf("field %s: %w", path, err)
	}
	for _, rf := range rr.Fields() {
		p := rf.Name()
		if path != "" {
			p = path + "." + p
		}
		wf := findField(wr, rf)
		if wf == nil {
			if !rf.HasDefault() {
				return fmt.Errorf("field %s: added without a default", p)
			}
			continue
		}
		if err := compatible(rf.Type(), wf.Type(), p); err != nil {
			return err
		}
	}
	if path == "" {
		return err
	}
	return fmt.Errorf("field %s: %w", path, err)
}

func findField(w *avro.RecordSchema, rf *avro.Field) *avro.Field {
	for _, f := range w.Fields() {
		if f.Name() == rf.Name() {
			return f
		}
	}
	for _, f := range w.Fields() {
		for _, a := range rf.Aliases() {
			if f.Name() == a {
				return f
			}
		}
	}
	return nil
}

// Change is how a reader schema differs from a previous one, field by field (dotted paths).
type Change struct {
	Added, Removed, Promoted []string // Promoted: `n int→long`
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool { return len(c.Added)+len(c.Removed)+len(c.Promoted) == 0 }

// String lists the change: `+country -legacy ~ms_played int→long`.
func (c Change) String() string {
	var parts []string
	for _, a := range c.Added {
		parts = append(parts, "+"+a)
	}
	for _, r := range c.Removed {
		parts = append(parts, "-"+r)
	}
	for _, p := range c.Promoted {
		parts = append(parts, "~"+p)
	}
	return strings.Join(parts, " ")
}

// Diff returns the fields added, removed and changed in type from schema old to schema new.
func Diff(old, new string) (Change, error) {
	os, err := parse(old)
	if err != nil {
		return Change{}, fmt.Errorf("old schema: %w", err)
	}
	ns, err := parse(new)
	if err != nil {
		return Change{}, fmt.Errorf("new schema: %w", err)
	}
	var c Change
	diff(os, ns, "", &c)
	sort.Strings(c.Added)
	sort.Strings(c.Removed)
	sort.Strings(c.Promoted)
	return c, nil
}

func diff(o, n avro.Schema, path string, c *Change) {
	or, ok1 := o.(*avro.RecordSchema)
	nr, ok2 := n.(*avro.RecordSchema)
	if !ok1 || !ok2 {
		if o.Fingerprint() != n.Fingerprint() {
			c.Promoted = append(c.Promoted, fmt.Sprintf("%s %s→%s", path, typeName(o), typeName(n)))
		}
		return
	}
	for _, nf := range nr.Fields() {
		p := joinPath(path, nf.Name())
		of := findField(or, nf)
		if of == nil {
			c.Added = append(c.Added, p)
			continue
		}
		diff(of.Type(), nf.Type(), p, c)
	}
	for _, of := range or.Fields() {
		if findField(nr, of) == nil {
			c.Removed = append(c.Removed, joinPath(path, of.Name()))
		}
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func typeName(s avro.Schema) string {
	switch t := s.(type) {
	case *avro.EnumSchema:
		return fmt.Sprintf("enum(%d symbols)", len(t.Symbols()))
	case avro.NamedSchema:
		return t.FullName()
	case *avro.UnionSchema:
		var names []string
		for _, b := range t.Types() {
			names = append(names, typeName(b))
		}
		return "[" + strings.Join(names, ",") + "]"
	}
	return string(s.Type())
}
