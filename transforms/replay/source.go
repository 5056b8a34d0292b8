package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// record is one entry of an input file: a message, a message with the reason it is a dead
// letter, or (ok false) something without a publish time, kept as raw.
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

// openRecords opens path in store and skips its first skip records, so that a reader
// resumes where a checkpoint left it.
func openRecords(ctx context.Context, store *objstore.Store, path string, skip int64) (records, error) {
	r, err := store.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	var recs records = &jsonLines{r: bufio.NewReaderSize(r, 1<<20), c: r}
	for i := int64(0); i < skip; i++ {
		if _, err := recs.Next(); err != nil {
			recs.Close()
			return nil, fmt.Errorf("replay %s: resume at record %d: %w", path, skip, err)
		}
	}
	return recs, nil
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
