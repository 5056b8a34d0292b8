package replay

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary lines: none may panic, and a message it accepts formats
// back into a line that parses to the same message.
func FuzzParse(f *testing.F) {
	f.Add(`{"message_id": "m1", "publish_time": "2026-11-20T07:00:00Z", "attributes": {"event_id": "e1"}, "data": "AAEC"}`)
	f.Add(`{"message_id": "m1", "publish_time": "2026-11-20T07:00:00.123+01:00", "data": "not base64"}`)
	f.Fuzz(func(t *testing.T, line string) {
		m, reason, ok := Parse(line)
		if !ok || reason != "" {
			if reason == "" {
				t.Fatalf("Parse(%q): not ok without a reason", line)
			}
			return
		}
		again, reason, ok := Parse(string(Format(m)))
		if !ok || reason != "" {
			t.Fatalf("Format(%+v) does not parse: %s", m, reason)
		}
		if len(m.Attributes) == 0 {
			m.Attributes, again.Attributes = nil, nil
		}
		if len(m.Data) == 0 {
			m.Data, again.Data = nil, nil
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip: %+v became %+v", m, again)
		}
	})
}

func TestParseRefusesAnOverlongLine(t *testing.T) {
	line := `{"message_id": "m", "publish_time": "2026-11-20T07:00:00Z", "data": "` + strings.Repeat("A", MaxLineBytes) + `"}`
	_, reason, ok := Parse(line)
	if ok || !strings.Contains(reason, "more than 16777216") {
		t.Errorf("Parse of %d bytes = %q, %v; want refused as too long", len(line), reason, ok)
	}
}
