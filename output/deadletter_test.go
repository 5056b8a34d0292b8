package output

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// DeadLetter.Append writes what goavro reads back as the dead letter, and the same bytes every time
// (goavro's own encoder writes a map in Go's random order).
func TestDeadLetterAppend(t *testing.T) {
	codec, err := goavro.NewCodec(DeadLetterSchema)
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{"event_id": "e1", "googclient_schemaencoding": "JSON", "a": "1", "z": "", "m": "ü"}
	for _, d := range []DeadLetter{
		{MessageID: "m1", PublishTime: 1795172640123, Attributes: attrs, Data: []byte{0, 1, 2}, Reason: "undecodable: x"},
		{MessageID: "", PublishTime: -5, Reason: ""},
	} {
		first := d.Append(nil)
		for range 20 {
			if again := d.Append(nil); !bytes.Equal(again, first) {
				t.Fatalf("%s: bytes differ between encodings", d.MessageID)
			}
		}
		native, rest, err := codec.NativeFromBinary(first)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%s: goavro reads %v, %d bytes left", d.MessageID, err, len(rest))
		}
		wantAttrs := map[string]any{}
		for k, v := range d.Attributes {
			wantAttrs[k] = v
		}
		want := map[string]any{
			"message_id": d.MessageID, "publish_time": time.UnixMilli(d.PublishTime).UTC(),
			"attributes": wantAttrs, "data": d.Data, "reason": d.Reason,
		}
		if len(d.Data) == 0 {
			want["data"] = []byte{}
		}
		got := native.(map[string]any)
		got["publish_time"] = got["publish_time"].(time.Time).UTC()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("goavro reads %v, want %v", got, want)
		}
	}
}
