package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/linkedin/goavro/v2"

	"github.com/eventdelivery/eventdelivery/internal/avrofile"
	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/internal/testkit/beamtest"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/message"
	"github.com/eventdelivery/eventdelivery/transforms/replay"
)

func init() {
	register.Function1x1[message.Message, string](fullMsg)
}

// fullMsg shows everything a message carries.
func fullMsg(m message.Message) string {
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
		attrs = append(attrs, k+"="+m.Attributes[k])
	}
	return fmt.Sprintf("%s %s [%s] %s", m.ID, m.Published().Format(time.RFC3339Nano), strings.Join(attrs, ","), m.Data)
}

// writeOCF writes records (goavro's native form) as an Avro object container file of schema.
func writeOCF(t *testing.T, path, schema string, records ...map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: schema, CompressionName: goavro.CompressionSnappyLabel})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if err := w.Append([]any{r}); err != nil {
			t.Fatal(err)
		}
	}
	write(t, path, buf.Bytes())
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	st, err := objstore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Write(context.Background(), path, data); err != nil {
		t.Fatal(err)
	}
}

// archived is a record of a Cloud Storage subscription's archive, with metadata.
func archived(id string, minute int, attrs map[string]any, data string) map[string]any {
	return map[string]any{
		"subscription_name": "projects/p/subscriptions/archive",
		"message_id":        id,
		"publish_time":      time.UnixMilli(published).Add(time.Duration(minute) * time.Minute).Add(123 * time.Microsecond),
		"attributes":        attrs,
		"data":              []byte(data),
	}
}

// deadLetters writes a dead-letter file as the pipeline does.
func deadLetters(t *testing.T, path string, ds ...output.DeadLetter) {
	w := avrofile.NewWriter(output.DeadLetterSchema, path)
	for _, d := range ds {
		w.Append(d.Append(nil))
	}
	write(t, path, w.Bytes())
}

// One glob on gs:// reads JSON lines, a Pub/Sub Cloud Storage subscription's Avro archive
// and a dead-letter file, each detected from its content, in name order, as messages: the
// dead letter's reason is dropped, so that the message is decoded again.
func TestReadArchives(t *testing.T) {
	gcsfake.Start(t, "events")
	in := "gs://events/in/"
	write(t, in+"1-lines", append(replay.Format(message.Message{ID: "j1", PublishTime: published, Attributes: map[string]string{"event_id": "e1"}, Data: []byte("x")}), '\n'))
	writeOCF(t, in+"2-archive", replay.ArchiveSchema,
		archived("a1", 1, map[string]any{"event_id": "e2", "googclient_OrderingKey": "k"}, "y"),
		archived("a2", 2, map[string]any{}, "z"))
	deadLetters(t, in+"3-dead", output.DeadLetter{MessageID: "d1", PublishTime: published + 3*60_000, Attributes: map[string]string{"event_id": "e3"}, Data: []byte("w"), Reason: "decode: bad"})
	tg := output.Target{Root: "gs://events/out", EventType: "play-track", Layout: output.Layout{Width: time.Hour}, RunID: "r1"}
	want := []any{
		"j1 2026-11-20T10:15:00Z [event_id=e1] x",
		"a1 2026-11-20T10:16:00Z [event_id=e2,googclient_OrderingKey=k] y", // publish times in µs, read to the ms
		"a2 2026-11-20T10:17:00Z [] z",
		"d1 2026-11-20T10:18:00Z [event_id=e3] w",
	}
	for name, opts := range map[string][]replay.Option{"in order": {replay.WithDisorder(0), replay.CheckpointEvery(1)}, "bounded": {replay.Bounded()}} {
		t.Run(name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			r := replay.Read(s, in+"*", tg, opts...)
			beamtest.Equals(s, beam.ParDo(s, fullMsg, r.Messages), want...)
			beamtest.Equals(s, beam.ParDo(s, reason, r.Dead))
			beamtest.Run(t, p)
		})
	}
}

// A named format reads only files of that format; an archive without metadata (data only,
// no publish time) is refused; an archive out of order fails like JSON lines do.
func TestReadArchiveErrors(t *testing.T) {
	dir := t.TempDir()
	tg := output.Target{Root: dir + "/out", EventType: "play-track", Layout: output.Layout{Width: time.Hour}, RunID: "r1"}
	writeOCF(t, dir+"/archive.avro", replay.ArchiveSchema, archived("a1", 30, nil, "x"), archived("a2", 0, nil, "y"))
	writeOCF(t, dir+"/bare.avro", `{"type": "record", "name": "PubsubMessage", "fields": [{"name": "data", "type": "bytes"}]}`, map[string]any{"data": []byte("x")})
	for _, tc := range []struct {
		name, file string
		opt        replay.Option
		want       string
	}{
		{"named format", "archive.avro", replay.WithFormat(replay.DeadLetter), "archive.avro: --input_format=deadletter, but the file's schema is that of pubsub-avro"},
		{"no metadata", "bare.avro", replay.WithFormat(replay.Auto), "bare.avro: a Pub/Sub archive written without metadata (no publish_time field)"},
		{"out of order", "archive.avro", replay.WithDisorder(time.Minute), "archive.avro record 2: published at 2026-11-20T10:15:00Z, 30m0s before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			replay.Read(s, dir+"/"+tc.file, tg, tc.opt)
			if err := ptest.Run(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
