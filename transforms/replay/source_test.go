package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// A file being read tells how far into its bytes the reader is, so that the progress of a
// replay of one large file moves: ahead of the records read by at most the read buffer, and
// all of it at the end.
func TestInputPosition(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "big.jsonl")
	var data []byte
	const n = 20000
	for i := range n {
		data = append(data, Format(message.Message{ID: fmt.Sprint("m", i), PublishTime: 1795172640000 + int64(i), Data: make([]byte, 150)})...)
		data = append(data, '\n')
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := objstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := openRecords(ctx, st, path, Auto, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.Next(); err != nil {
		t.Fatal(err)
	}
	read, size := in.Position()
	if size != int64(len(data)) || read <= 0 || read >= size {
		t.Fatalf("after one record of %d bytes: read %d of %d, want some of all", len(data), read, size)
	}
	records := 1
	for ; ; records++ {
		if _, err := in.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if read, _ := in.Position(); records != n || read != size {
		t.Errorf("at the end: %d records, read %d of %d bytes; want %d records, all", records, read, size, n)
	}
}
