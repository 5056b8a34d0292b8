package output

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/linkedin/goavro/v2"
)

// MetaIDs is the Avro header key of the event ids a data file holds (a JSON array of
// strings), so that a job that takes over an open bucket dedupes against what its
// predecessor wrote without reading the records.
const MetaIDs = "eventdelivery.ids"

// IDsMeta returns the header value of MetaIDs for ids.
func IDsMeta(ids []string) string {
	b, err := json.Marshal(ids)
	if err != nil {
		panic(err) // a []string always marshals
	}
	return string(b)
}

// ReadFileIDs returns the event ids listed in the header of the data file r starts with; it
// reads the header only. Files written before the ids were recorded list none.
func ReadFileIDs(r io.Reader) ([]string, error) {
	ocf, err := goavro.NewOCFReader(r) // reads the header
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	v, ok := ocf.MetaData()[MetaIDs]
	if !ok {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal(v, &ids); err != nil {
		return nil, fmt.Errorf("header %s: %w", MetaIDs, err)
	}
	return ids, nil
}

// Opener opens an object for reading; internal/objstore's Store is one.
type Opener interface {
	OpenRead(ctx context.Context, path string) (io.ReadCloser, error)
}

// FileIDs returns the ids listed in the header of the file at name in st (ReadFileIDs).
func FileIDs(ctx context.Context, st Opener, name string) ([]string, error) {
	r, err := st.OpenRead(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ids, err := ReadFileIDs(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ids, nil
}
