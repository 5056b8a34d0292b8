// Package avrofile writes and reads Avro object container files.
//
// # Writing
//
// The pipeline validates every record once, when it decodes the message, and carries it on
// in Avro binary. Writing a file therefore does not decode and re-encode records: Writer
// appends their bytes to blocks of about BlockSize bytes, compresses each block with snappy
// and frames it as the Avro specification says (count, size, data, CRC32 for snappy, sync
// marker). That costs about a tenth of what goavro's OCFWriter spends per record, which
// encodes every record from its native form (docs/performance.md).
//
// # Determinism
//
// The same records under the same name give the same bytes: the sync marker derives from the
// name and the header's metadata is written in a fixed order (goavro's writer encodes its
// metadata map in Go's random map order).
package avrofile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"

	"github.com/golang/snappy"
	"github.com/linkedin/goavro/v2"
)

// Codec is the compression of the files the pipeline writes: snappy costs little more than
// none and deflate about three times as much per event (docs/performance.md).
const Codec = goavro.CompressionSnappyLabel

// BlockSize is the uncompressed size at which Writer closes a block: Avro's default sync
// interval, so that readers can split large files and never hold more than a block.
const BlockSize = 64000

var magic = []byte("Obj\x01")

// SyncMarker returns the sync marker of the file called name.
func SyncMarker(name string) [16]byte {
	sum := sha256.Sum256([]byte(name))
	var sync [16]byte
	copy(sync[:], sum[:16])
	return sync
}

// Writer builds an object container file in memory, with snappy compression, from records
// already in Avro binary of its schema. The zero Writer is not usable; call NewWriter.
type Writer struct {
	buf   []byte // the file so far: header and closed blocks
	block []byte // records of the open block, uncompressed
	count int    // records in the open block
	total int
	sync  [16]byte
	zbuf  []byte // snappy's output, reused
}

// Meta is an entry of the file header's metadata, after avro.schema and avro.codec. Keys
// must not start with "avro.".
type Meta struct {
	Key, Value string
}

// NewWriter starts the file called name (its sync marker derives from the name) with the
// given schema (JSON) and metadata, in that order, in its header.
func NewWriter(schema, name string, meta ...Meta) *Writer {
	w := &Writer{sync: SyncMarker(name)}
	w.buf = make([]byte, 0, len(schema)+64)
	w.buf = append(w.buf, magic...)
	w.buf = binary.AppendVarint(w.buf, int64(2+len(meta))) // one map block
	w.buf = appendBytes(w.buf, "avro.schema", []byte(schema))
	w.buf = appendBytes(w.buf, "avro.codec", []byte(Codec))
	for _, m := range meta {
		w.buf = appendBytes(w.buf, m.Key, []byte(m.Value))
	}
	w.buf = append(w.buf, 0) // end of the map
	w.buf = append(w.buf, w.sync[:]...)
	return w
}

func appendBytes(buf []byte, key string, value []byte) []byte {
	buf = binary.AppendVarint(buf, int64(len(key)))
	buf = append(buf, key...)
	buf = binary.AppendVarint(buf, int64(len(value)))
	return append(buf, value...)
}

// Append adds one record, Avro binary of the writer's schema. It is not checked: the caller
// has validated it (decode does, for every event).
func (w *Writer) Append(record []byte) {
	w.block = append(w.block, record...)
	w.count++
	w.total++
	if len(w.block) >= BlockSize {
		w.flush()
	}
}

// Records returns how many records were appended.
func (w *Writer) Records() int { return w.total }

// flush closes the open block: count, size, snappy data with the CRC32 (big endian) of the
// uncompressed bytes, sync marker.
func (w *Writer) flush() {
	if w.count == 0 {
		return
	}
	w.zbuf = snappy.Encode(w.zbuf[:cap(w.zbuf)], w.block)
	w.buf = binary.AppendVarint(w.buf, int64(w.count))
	w.buf = binary.AppendVarint(w.buf, int64(len(w.zbuf)+4))
	w.buf = append(w.buf, w.zbuf...)
	w.buf = binary.BigEndian.AppendUint32(w.buf, crc32.ChecksumIEEE(w.block))
	w.buf = append(w.buf, w.sync[:]...)
	w.block, w.count = w.block[:0], 0
}

// Bytes closes the open block and returns the file. The writer may go on appending.
func (w *Writer) Bytes() []byte {
	w.flush()
	return w.buf
}

// Encode returns an object container file of records, Avro binary of codec's schema, as
// validated by the caller; they are appended as they are. The sync marker derives from
// name, so the same records under the same name give the same bytes.
func Encode(codec *goavro.Codec, name string, records [][]byte) ([]byte, error) {
	w := NewWriter(codec.Schema(), name)
	for _, r := range records {
		w.Append(r)
	}
	return w.Bytes(), nil
}

// Read returns the schema and the records of an object container file, in native form.
func Read(data []byte) (schema string, records []any, err error) {
	r, err := goavro.NewOCFReader(bytes.NewReader(data))
	if err != nil {
		return "", nil, err
	}
	for r.Scan() {
		rec, err := r.Read()
		if err != nil {
			return "", nil, err
		}
		records = append(records, rec)
	}
	return r.Codec().Schema(), records, r.Err()
}

// Info is what Stat reads of a file without decoding its records.
type Info struct {
	Records int64
	Meta    map[string][]byte // the header's metadata, avro.schema and avro.codec included
}

// Stat counts the records of an object container file block by block, without decoding
// them, and returns its header's metadata.
func Stat(data []byte) (Info, error) {
	r, err := goavro.NewOCFReader(bytes.NewReader(data))
	if err != nil {
		return Info{}, err
	}
	info := Info{Meta: r.MetaData()}
	for r.Scan() {
		info.Records += r.RemainingBlockItems()
		r.SkipThisBlockAndReset()
	}
	return info, r.Err()
}
