package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// InputFormat names the format of a replay's input files.
type InputFormat string

// The input formats Read knows. Auto tells them apart by their content: an Avro object
// container file (magic "Obj\x01") is a Pub/Sub archive or a dead-letter file by the fields
// of its schema (see avro.go); anything else is JSON lines.
const (
	Auto       InputFormat = "auto"
	JSONLines  InputFormat = "json"
	PubSubAvro InputFormat = "pubsub-avro" // written by a Pub/Sub Cloud Storage subscription (Avro)
	DeadLetter InputFormat = "deadletter"  // this project's dead-letter files (output.DeadLetterSchema)
)

// ParseInputFormat reads an --input_format value; "" is Auto.
func ParseInputFormat(s string) (InputFormat, error) {
	switch f := InputFormat(s); f {
	case "":
		return Auto, nil
	case Auto, JSONLines, PubSubAvro, DeadLetter:
		return f, nil
	}
	return "", fmt.Errorf("%q: want auto, json, pubsub-avro or deadletter", s)
}

// record is one entry of an input file: a message, a message with the reason it is a dead
// letter, or (ok false) something without a publish time, kept as raw: a replay line
// (Format's, or as close to one as the entry allows) whose Parse gives the reason.
type record struct {
	msg    message.Message
	reason string
	ok     bool
	raw    string
}

// records reads the entries of one input file in order; Next returns io.EOF after the last.
type records interface {
	Next() (record, error)
	Close() error
}

var avroMagic = []byte("Obj\x01")

// input is an input file being read: its records, and how far into its bytes.
type input struct {
	records
	read *counting
	size int64
}

// Position returns how many bytes of the file have been read (ahead of the records by at
// most a buffer) and its size.
func (in *input) Position() (read, size int64) { return in.read.n, in.size }

// counting counts the bytes read through it.
type counting struct {
	r io.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// openRecords opens path in store, in format (Auto: detected from its first bytes), and
// skips its first skip records, so that a reader resumes where a checkpoint left it.
func openRecords(ctx context.Context, store *objstore.Store, path string, format InputFormat, skip int64) (*input, error) {
	r, size, err := store.OpenReadSize(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	read := &counting{r: r}
	br := bufio.NewReaderSize(read, 1<<20)
	if format == Auto || format == "" {
		format = JSONLines
		if head, _ := br.Peek(len(avroMagic)); bytes.Equal(head, avroMagic) {
			format = Auto // an Avro file: its schema tells which
		}
	}
	var recs records
	if format == JSONLines {
		recs = &jsonLines{r: br, c: r}
	} else if recs, err = openAvro(br, r, format); err != nil {
		r.Close()
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	for i := int64(0); i < skip; i++ {
		if _, err := recs.Next(); err != nil {
			recs.Close()
			return nil, fmt.Errorf("replay %s: resume at record %d: %w", path, skip, err)
		}
	}
	return &input{records: recs, read: read, size: size}, nil
}

// jsonLines reads replay lines (Format); blank lines are skipped.
type jsonLines struct {
	r *bufio.Reader
	c io.Closer
}

func (j *jsonLines) Next() (record, error) {
	for {
		line, err := j.r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return record{}, err
		}
		if strings.TrimSpace(line) == "" {
			if err != nil {
				return record{}, io.EOF
			}
			continue
		}
		line = strings.TrimSuffix(line, "\n")
		m, reason, ok := Parse(line)
		return record{msg: m, reason: reason, ok: ok, raw: line}, nil
	}
}

func (j *jsonLines) Close() error { return j.c.Close() }
