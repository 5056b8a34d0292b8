package codec

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"
)

// Limits on what one message may hold. They fail clearly (a dead letter with the reason)
// where the bytes would otherwise make a decoder recurse or allocate without bound.
const (
	// MaxMessageBytes is Pub/Sub's limit on a message's data: a replay line can carry more.
	MaxMessageBytes = 10_000_000
	// MaxDepth is how deeply records, arrays and maps may nest in one event, the record
	// itself included (64 records inside each other, or 63 and an array). Only a
	// recursive schema lets data nest deeper than the schema itself.
	MaxDepth = 64
	// MaxItems is how many array items and map entries of a type that takes no bytes
	// (null, an empty record) one event may hold; other items are bounded by the bytes.
	MaxItems = 1 << 20
	// MaxEventIDBytes is Pub/Sub's limit on an attribute value, applied to every event id:
	// ids are the dedupe's state.
	MaxEventIDBytes = 1024
)

type kind uint8

const (
	kNull kind = iota
	kBoolean
	kInt
	kLong
	kFloat
	kDouble
	kBytes
	kString
	kRecord
	kEnum
	kArray
	kMap
	kUnion
	kFixed
)

type logical uint8

const (
	lNone logical = iota
	lDate
	lTimeMillis
	lTimeMicros
	lTimestampMillis
	lTimestampMicros
	lDecimal
	lUUID
)

// The range of Avro's timestamps and dates that readers can represent: years 1 to 9999
// (Python's datetime; Java's java.time goes further). A value outside makes Apache
// Avro's Python reader fail on the whole file.
const (
	minMillis = -62135596800000 // 0001-01-01T00:00:00Z
	maxMillis = 253402300799999 // 9999-12-31T23:59:59.999Z
	minDays   = -719162
	maxDays   = 2932896
	dayMillis = 86_400_000
)

// node is one type of a schema, compiled for checking Avro binary strictly.
type node struct {
	kind      kind
	logical   logical
	fields    []field // record
	symbols   int     // enum
	size      int     // fixed
	items     *node   // array items, map values
	branches  []*node // union
	precision int     // decimal
	minSize   int     // fewest bytes a value takes; 0 for null and empty records
}

type field struct {
	name string
	t    *node
}

// compile compiles an Avro schema (JSON) for strict checks. The schema is one goavro
// accepted, so only what the checks need is read from it.
func compile(schema string) (*node, error) {
	var root any
	if err := json.Unmarshal([]byte(schema), &root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := compiler{named: map[string]*node{}}
	n, err := c.node(root, "")
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	for range 64 { // minimum sizes of recursive types settle in a few rounds
		if !c.sizes() {
			break
		}
	}
	return n, nil
}

type compiler struct {
	named map[string]*node
	all   []*node
}

var primitives = map[string]kind{
	"null": kNull, "boolean": kBoolean, "int": kInt, "long": kLong, "float": kFloat,
	"double": kDouble, "bytes": kBytes, "string": kString,
}

var logicals = map[string]logical{
	"date": lDate, "time-millis": lTimeMillis, "time-micros": lTimeMicros,
	"timestamp-millis": lTimestampMillis, "timestamp-micros": lTimestampMicros,
	"decimal": lDecimal, "uuid": lUUID,
}

func (c *compiler) node(s any, ns string) (*node, error) {
	switch s := s.(type) {
	case string:
		if k, ok := primitives[s]; ok {
			return c.add(&node{kind: k}), nil
		}
		if n := c.named[fullName(s, ns)]; n != nil {
			return n, nil
		}
		if n := c.named[s]; n != nil {
			return n, nil
		}
		return nil, fmt.Errorf("unknown type %q", s)
	case []any:
		n := c.add(&node{kind: kUnion})
		for _, b := range s {
			bn, err := c.node(b, ns)
			if err != nil {
				return nil, err
			}
			n.branches = append(n.branches, bn)
		}
		return n, nil
	case map[string]any:
		t, _ := s["type"].(string)
		n := &node{}
		if k, ok := primitives[t]; ok {
			n.kind = k
		} else if t == "" {
			return c.node(s["type"], ns) // {"type": {...}} or {"type": [...]}
		}
		lt, _ := s["logicalType"].(string)
		n.logical = logicals[lt]
		if p, ok := s["precision"].(float64); ok {
			n.precision = int(p)
		}
		if name, ok := s["name"].(string); ok && (t == "record" || t == "error" || t == "enum" || t == "fixed") {
			if sns, ok := s["namespace"].(string); ok && !strings.Contains(name, ".") {
				ns = sns
			}
			full := fullName(name, ns)
			if i := strings.LastIndexByte(full, '.'); i >= 0 {
				ns = full[:i]
			}
			c.named[full] = n
			c.named[full[strings.LastIndexByte(full, '.')+1:]] = n
		}
		switch t {
		case "record", "error":
			n.kind = kRecord
			c.add(n)
			fs, _ := s["fields"].([]any)
			for _, f := range fs {
				fm, _ := f.(map[string]any)
				name, _ := fm["name"].(string)
				ft, err := c.node(fm["type"], ns)
				if err != nil {
					return nil, fmt.Errorf("field %s: %w", name, err)
				}
				n.fields = append(n.fields, field{name: name, t: ft})
			}
			return n, nil
		case "enum":
			n.kind = kEnum
			syms, _ := s["symbols"].([]any)
			n.symbols = len(syms)
		case "fixed":
			n.kind = kFixed
			size, _ := s["size"].(float64)
			n.size = int(size)
		case "array", "map":
			n.kind = kArray
			key := "items"
			if t == "map" {
				n.kind, key = kMap, "values"
			}
			c.add(n)
			items, err := c.node(s[key], ns)
			if err != nil {
				return nil, err
			}
			n.items = items
			return n, nil
		default:
			if _, ok := primitives[t]; !ok {
				return nil, fmt.Errorf("unknown type %q", t)
			}
		}
		if n.logical == lDecimal && n.kind != kBytes && n.kind != kFixed ||
			n.logical == lUUID && n.kind != kString {
			n.logical = lNone // Avro ignores a logical type on the wrong type
		}
		return c.add(n), nil
	}
	return nil, fmt.Errorf("unexpected %T in a schema", s)
}

func (c *compiler) add(n *node) *node {
	c.all = append(c.all, n)
	return n
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

// sizes raises every node's minimum size towards its fixed point and reports whether
// any changed. Sizes start at 0 and only grow, so recursive types settle.
func (c *compiler) sizes() (changed bool) {
	for _, n := range c.all {
		var s int
		switch n.kind {
		case kBoolean, kInt, kLong, kBytes, kString, kEnum, kArray, kMap, kUnion:
			s = 1
		case kFloat:
			s = 4
		case kDouble:
			s = 8
		case kFixed:
			s = n.size
		case kRecord:
			for _, f := range n.fields {
				s += f.t.minSize
			}
		}
		if n.kind == kUnion && len(n.branches) > 0 {
			least := math.MaxInt
			for _, b := range n.branches {
				least = min(least, b.minSize)
			}
			s = 1 + least
		}
		s = min(s, 1<<20)
		if s > n.minSize {
			n.minSize, changed = s, true
		}
	}
	return changed
}

// strictError says what is wrong and where: path holds the field names from the inside out.
type strictError struct {
	path []string
	msg  string
}

func (e *strictError) Error() string {
	if len(e.path) == 0 {
		return e.msg
	}
	var b strings.Builder
	b.WriteString("field ")
	for i := len(e.path) - 1; i >= 0; i-- {
		if i < len(e.path)-1 && !strings.HasPrefix(e.path[i], "[") {
			b.WriteByte('.')
		}
		b.WriteString(e.path[i])
	}
	b.WriteString(": ")
	b.WriteString(e.msg)
	return b.String()
}

func fail(format string, args ...any) *strictError {
	return &strictError{msg: fmt.Sprintf(format, args...)}
}

func (e *strictError) in(name string) *strictError {
	e.path = append(e.path, name)
	return e
}

// checker walks Avro binary of a compiled schema and refuses what a strict reader
// refuses. It allocates nothing unless it finds a problem.
type checker struct {
	buf   []byte
	pos   int
	items int // zero-size items seen
}

// check checks that data is exactly one value of n, strictly.
func check(n *node, data []byte) error {
	c := checker{buf: data}
	if err := c.value(n, 0); err != nil {
		return err
	}
	if rest := len(data) - c.pos; rest > 0 {
		return fail("trailing bytes: %d after the record", rest)
	}
	return nil
}

func (c *checker) remaining() int { return len(c.buf) - c.pos }

// varint reads a zig-zag varint of at most max bytes.
func (c *checker) varint(max int, what string) (int64, *strictError) {
	var u uint64
	for i := 0; i < max; i++ {
		if c.pos >= len(c.buf) {
			return 0, fail("truncated")
		}
		b := c.buf[c.pos]
		c.pos++
		if i == 9 && b > 1 {
			return 0, fail("%s overflows 64 bits", what)
		}
		u |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, fail("%s varint longer than %d bytes", what, max)
}

func (c *checker) long() (int64, *strictError) { return c.varint(10, "long") }

func (c *checker) int() (int64, *strictError) {
	v, err := c.varint(5, "int")
	if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		return 0, fail("int %d overflows 32 bits", v)
	}
	return v, err
}

// length reads the length of bytes or a string.
func (c *checker) length() (int, *strictError) {
	n, err := c.long()
	switch {
	case err != nil:
		return 0, err
	case n < 0:
		return 0, fail("negative length %d", n)
	case n > int64(c.remaining()):
		return 0, fail("length %d exceeds the %d bytes left", n, c.remaining())
	}
	return int(n), nil
}

func (c *checker) value(n *node, depth int) *strictError {
	switch n.kind {
	case kNull:
		return nil
	case kBoolean:
		if c.pos >= len(c.buf) {
			return fail("truncated")
		}
		if b := c.buf[c.pos]; b > 1 {
			return fail("boolean byte %d, want 0 or 1", b)
		}
		c.pos++
	case kInt:
		v, err := c.int()
		if err != nil {
			return err
		}
		switch {
		case n.logical == lDate && (v < minDays || v > maxDays):
			return fail("date %d days is outside years 1 to 9999", v)
		case n.logical == lTimeMillis && (v < 0 || v >= dayMillis):
			return fail("time-millis %d is not within a day", v)
		}
	case kLong:
		v, err := c.long()
		if err != nil {
			return err
		}
		switch {
		case n.logical == lTimestampMillis && (v < minMillis || v > maxMillis):
			return fail("timestamp-millis %d is outside years 1 to 9999", v)
		case n.logical == lTimestampMicros && (v < minMillis*1000 || v > maxMillis*1000+999):
			return fail("timestamp-micros %d is outside years 1 to 9999", v)
		case n.logical == lTimeMicros && (v < 0 || v >= dayMillis*1000):
			return fail("time-micros %d is not within a day", v)
		}
	case kFloat, kDouble:
		size := 4
		if n.kind == kDouble {
			size = 8
		}
		if c.remaining() < size {
			return fail("truncated")
		}
		c.pos += size
	case kBytes, kString:
		l, err := c.length()
		if err != nil {
			return err
		}
		b := c.buf[c.pos : c.pos+l]
		c.pos += l
		switch {
		case n.kind == kString && !utf8.Valid(b):
			return fail("not valid UTF-8")
		case n.logical == lUUID && !isUUID(b):
			return fail("uuid %q is not 8-4-4-4-12 hex digits", b)
		case n.logical == lDecimal:
			return decimal(n, b)
		}
	case kFixed:
		if c.remaining() < n.size {
			return fail("truncated: fixed of %d bytes, %d left", n.size, c.remaining())
		}
		b := c.buf[c.pos : c.pos+n.size]
		c.pos += n.size
		if n.logical == lDecimal {
			return decimal(n, b)
		}
	case kEnum:
		i, err := c.int()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(n.symbols) {
			return fail("enum index %d, the enum has %d symbols", i, n.symbols)
		}
	case kUnion:
		i, err := c.int()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return fail("union index %d, the union has %d branches", i, len(n.branches))
		}
		return c.value(n.branches[i], depth)
	case kRecord:
		if depth >= MaxDepth {
			return fail("nested deeper than %d levels", MaxDepth)
		}
		for i := range n.fields {
			if err := c.value(n.fields[i].t, depth+1); err != nil {
				return err.in(n.fields[i].name)
			}
		}
	case kArray, kMap:
		if depth >= MaxDepth {
			return fail("nested deeper than %d levels", MaxDepth)
		}
		return c.blocks(n, depth+1)
	}
	return nil
}

// blocks checks the blocks of an array or a map: counts that the bytes left can hold,
// block sizes that match, and each item.
func (c *checker) blocks(n *node, depth int) *strictError {
	itemSize := n.items.minSize
	if n.kind == kMap {
		itemSize++ // the key's length
	}
	index := 0
	for {
		count, err := c.long()
		if err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		size, start := int64(-1), 0
		if count < 0 {
			if count == math.MinInt64 {
				return fail("block count %d", count)
			}
			count = -count
			if size, err = c.long(); err != nil {
				return err
			}
			if size < 0 || size > int64(c.remaining()) {
				return fail("block size %d, %d bytes left", size, c.remaining())
			}
			start = c.pos
		}
		if itemSize > 0 && count > int64(c.remaining()/itemSize) {
			return fail("block count %d exceeds what the %d bytes left can hold", count, c.remaining())
		}
		if itemSize == 0 {
			if c.items += int(min(count, MaxItems+1)); c.items > MaxItems {
				return fail("more than %d items that take no bytes", MaxItems)
			}
		}
		for range count {
			if n.kind == kMap {
				l, err := c.length()
				if err != nil {
					return err.in(fmt.Sprintf("[%d]", index))
				}
				key := c.buf[c.pos : c.pos+l]
				c.pos += l
				if !utf8.Valid(key) {
					return fail("map key not valid UTF-8").in(fmt.Sprintf("[%d]", index))
				}
			}
			if err := c.value(n.items, depth); err != nil {
				return err.in(fmt.Sprintf("[%d]", index))
			}
			index++
		}
		if size >= 0 && int64(c.pos-start) != size {
			return fail("block size %d, its items take %d bytes", size, c.pos-start)
		}
	}
}

// decimal checks a decimal's two's-complement big-endian unscaled value: present, and
// within the schema's precision.
func decimal(n *node, b []byte) *strictError {
	if len(b) == 0 {
		return fail("decimal of no bytes")
	}
	if n.precision <= 0 || len(b) < 8 && n.precision >= 19 {
		return nil // fits: 8 bytes hold at most 19 digits
	}
	v := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if digits := len(strings.TrimPrefix(v.String(), "-")); digits > n.precision {
		return fail("decimal of %d digits, the precision is %d", digits, n.precision)
	}
	return nil
}

// isUUID reports whether b is a UUID in RFC 4122's text form.
func isUUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, ch := range b {
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", rune(ch)) {
				return false
			}
		}
	}
	return true
}

// jsonDepth returns how deeply data's JSON arrays and objects nest, stopping once past
// limit, without decoding it.
func jsonDepth(data []byte, limit int) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		switch ch := data[i]; {
		case inString && ch == '\\':
			i++
		case ch == '"':
			inString = !inString
		case inString:
		case ch == '{' || ch == '[':
			if depth++; depth > deepest {
				if deepest = depth; deepest > limit {
					return deepest
				}
			}
		case ch == '}' || ch == ']':
			depth--
		}
	}
	return deepest
}
