package avrofile

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/testkit/replaygen"
)

func playTrack(t testing.TB) *goavro.Codec {
	t.Helper()
	c, err := goavro.NewCodec(replaygen.Schema)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// records returns n play-track records in native and binary form.
func records(t testing.TB, c *goavro.Codec, n int) ([]any, [][]byte) {
	t.Helper()
	var natives []any
	var bins [][]byte
	for i := range n {
		var platform any
		if i%3 != 0 {
			platform = goavro.Union("string", "android")
		}
		nat := map[string]any{
			"event_id": fmt.Sprintf("ev-%06d", i), "user_id": fmt.Sprintf("user-%d", i%97), "track_id": "track-1",
			"ms_played": int64(i * 13), "client_time": time.UnixMilli(1_790_000_000_000 + int64(i)).UTC(), "platform": platform,
		}
		bin, err := c.BinaryFromNative(nil, nat)
		if err != nil {
			t.Fatal(err)
		}
		natives, bins = append(natives, nat), append(bins, bin)
	}
	return natives, bins
}

// readGoavro reads a file with goavro's own reader and returns its records in binary, so
// they compare byte for byte with what was appended.
func readGoavro(t *testing.T, data []byte) (codec *goavro.Codec, compression string, bins [][]byte) {
	t.Helper()
	r, err := goavro.NewOCFReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("goavro cannot open the file: %v", err)
	}
	for r.Scan() {
		rec, err := r.Read()
		if err != nil {
			t.Fatalf("goavro cannot read a record: %v", err)
		}
		bin, err := r.Codec().BinaryFromNative(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		bins = append(bins, bin)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("goavro: %v", err)
	}
	return r.Codec(), r.CompressionName(), bins
}

func TestEncodeReadsBackWithGoavro(t *testing.T) {
	c := playTrack(t)
	// 3000 records of about 60 bytes span several blocks of BlockSize.
	for _, n := range []int{1, 2, 100, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			_, bins := records(t, c, n)
			data, err := Encode(c, "gs://b/x/part-r1-0-3.avro", bins)
			if err != nil {
				t.Fatal(err)
			}
			codec, compression, got := readGoavro(t, data)
			if codec.Schema() != replaygen.Schema || compression != Codec {
				t.Errorf("header: schema %q, codec %q", codec.Schema(), compression)
			}
			if !reflect.DeepEqual(got, bins) {
				t.Fatalf("read back %d records, want the %d appended, in order", len(got), len(bins))
			}
			if blocks := bytes.Count(data, syncOf("gs://b/x/part-r1-0-3.avro")) - 1; n == 3000 && blocks < 2 {
				t.Errorf("%d blocks, want several of about %d bytes", blocks, BlockSize)
			}
		})
	}
}

func syncOf(name string) []byte {
	s := SyncMarker(name)
	return s[:]
}

func TestEncodeIsDeterministic(t *testing.T) {
	c := playTrack(t)
	_, bins := records(t, c, 500)
	a, _ := Encode(c, "dir/part-a.avro", bins)
	b, _ := Encode(c, "dir/part-a.avro", bins)
	other, _ := Encode(c, "dir/part-b.avro", bins)
	if !bytes.Equal(a, b) {
		t.Error("the same records under the same name gave different bytes")
	}
	if bytes.Equal(a, other) {
		t.Error("two names gave the same bytes: the sync marker must derive from the name")
	}
}

// The writer's blocks are what goavro's OCFWriter writes for the same records, sync marker
// and codec; only the header's metadata order may differ (goavro's follows Go's map order).
func TestBlocksMatchGoavro(t *testing.T) {
	c := playTrack(t)
	natives, bins := records(t, c, 200) // one block
	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Codec: c, CompressionName: Codec, SyncMarker: SyncMarker("f")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(natives); err != nil {
		t.Fatal(err)
	}
	ours, _ := Encode(c, "f", bins)
	sync := syncOf("f")
	theirBlock := buf.Bytes()[bytes.Index(buf.Bytes(), sync)+16:]
	ourBlock := ours[bytes.Index(ours, sync)+16:]
	if !bytes.Equal(ourBlock, theirBlock) {
		t.Errorf("block differs from goavro's:\nours   %x\ngoavro %x", ourBlock[:40], theirBlock[:40])
	}
	if len(ours) != buf.Len() {
		t.Errorf("file is %d bytes, goavro's %d", len(ours), buf.Len())
	}
}

func TestEmptyFile(t *testing.T) {
	c := playTrack(t)
	data, _ := Encode(c, "e", nil)
	if _, _, got := readGoavro(t, data); len(got) != 0 {
		t.Errorf("%d records in an empty file", len(got))
	}
}

func TestMetaAndStat(t *testing.T) {
	c := playTrack(t)
	for _, n := range []int{0, 1, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			_, bins := records(t, c, n)
			w := NewWriter(c.Schema(), "part-r1-0-0.avro", Meta{"eventdelivery.duplicates", "7"}, Meta{"eventdelivery.skewed", "2"})
			for _, b := range bins {
				w.Append(b)
			}
			data := w.Bytes()
			if _, _, got := readGoavro(t, data); len(got) != n {
				t.Fatalf("goavro reads %d records, want %d", len(got), n)
			}
			info, err := Stat(data)
			if err != nil {
				t.Fatal(err)
			}
			if info.Records != int64(n) {
				t.Errorf("Stat counts %d records, want %d", info.Records, n)
			}
			if d, s := string(info.Meta["eventdelivery.duplicates"]), string(info.Meta["eventdelivery.skewed"]); d != "7" || s != "2" {
				t.Errorf("metadata: duplicates %q, skewed %q; want 7 and 2", d, s)
			}
		})
	}
	if _, err := Stat([]byte("not avro")); err == nil {
		t.Error("Stat of a file that is not Avro: no error")
	}
}
