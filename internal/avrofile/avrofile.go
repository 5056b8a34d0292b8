// Package avrofile writes and counts Avro object container files.
package avrofile

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/linkedin/goavro/v2"
)

// Codec is the compression of the files the pipeline writes: snappy costs little more than
// none and deflate about three times as much per event (docs/performance.md).
const Codec = goavro.CompressionSnappyLabel

// Encode returns an object container file of records (Avro binary of codec's schema). The
// sync marker derives from name, so the same records under the same name give the same bytes.
func Encode(codec *goavro.Codec, name string, records [][]byte) ([]byte, error) {
	natives := make([]any, 0, len(records))
	for _, r := range records {
		n, _, err := codec.NativeFromBinary(r)
		if err != nil {
			return nil, fmt.Errorf("avro file %s: %w", name, err)
		}
		natives = append(natives, n)
	}
	return EncodeNatives(codec, name, natives)
}

// EncodeNatives is Encode for records already in goavro's native form.
func EncodeNatives(codec *goavro.Codec, name string, natives []any) ([]byte, error) {
	var buf bytes.Buffer
	sum := sha256.Sum256([]byte(name))
	var sync [16]byte
	copy(sync[:], sum[:16])
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Codec: codec, CompressionName: Codec, SyncMarker: sync})
	if err != nil {
		return nil, fmt.Errorf("avro file %s: %w", name, err)
	}
	if err := w.Append(natives); err != nil {
		return nil, fmt.Errorf("avro file %s: %w", name, err)
	}
	return buf.Bytes(), nil
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
