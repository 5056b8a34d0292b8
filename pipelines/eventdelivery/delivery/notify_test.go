package delivery

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/output"
	"github.com/eventdelivery/eventdelivery/transforms/heartbeat"
	"github.com/eventdelivery/eventdelivery/transforms/manifest"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// TestCloseNotifications runs a replay and a live job (runStream) with --notify_topic on the
// Cloud SDK's emulator: each publishes exactly one message per bucket it closes, carrying
// the manifest as written, and none for the bucket the wall clock keeps open.
func TestCloseNotifications(t *testing.T) {
	forLayouts(t, testCloseNotifications)
}

// runNotifying runs a replay and a live job (runStream) of an event at 10h and one at 12h
// with cfg's --notify_topic a new topic of the emulator, at 12:45: 10h and 11h are over, 12h
// closes at 13:30. It returns the emulator and the topic's subscription.
func runNotifying(t *testing.T, cfg *Config) (*pubsubemu.Emulator, pubsubemu.Names) {
	t.Helper()
	emu := pubsubemu.ForTest(t)
	names := pubsubemu.NewSubscription(t, 60*time.Second)
	cfg.NotifyTopic = names.Topic
	cfg.NowMs = ts("2026-11-20T12:45:00Z").UnixMilli()
	runStream(t, *cfg, stream(
		[]message.Message{event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z")},
		[]message.Message{event("m2", "e2", "2026-11-20T12:10:00Z", "2026-11-20T12:09:00Z")},
	))
	return emu, names
}

func testCloseNotifications(t *testing.T, cfg Config) {
	emu, names := runNotifying(t, &cfg)
	got := pullAll(t, emu, names.Subscription)
	// The replay wrote under cfg.Output, the live job under another folder: two closed
	// buckets each, so four manifests.
	var paths []string
	for _, m := range got {
		a := m.GetAttributes()
		p := a[manifest.AttrManifest]
		paths = append(paths, p)
		body, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("notified of %s, which cannot be read: %v", p, err)
			continue
		}
		if !bytes.Equal(m.GetData(), body) {
			t.Errorf("%s: the message's data %q is not the manifest %q", p, m.GetData(), body)
		}
		wantDir := cfg.Layout.RelDir(ts(a[manifest.AttrBucketStart]).UnixMilli())
		if a[manifest.AttrEventType] != "play-track" || !strings.Contains(p, "/play-track/"+wantDir+"/") ||
			ts(a[manifest.AttrBucketEnd]).Sub(ts(a[manifest.AttrBucketStart])) != time.Hour {
			t.Errorf("attributes %v", a)
		}
	}
	slices.Sort(paths)
	var want []string
	for _, start := range []string{"2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"} {
		want = append(want, cfg.Target().ManifestPath(ts(start).UnixMilli()))
	}
	var live []string
	for _, p := range paths {
		if !strings.HasPrefix(p, cfg.Output+"/") {
			live = append(live, p)
		}
	}
	replayed := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return !strings.HasPrefix(p, cfg.Output+"/") })
	if !slices.Equal(replayed, want) {
		t.Errorf("replay notified %v, want %v", replayed, want)
	}
	if len(live) != 2 || !strings.HasSuffix(live[0], strings.TrimPrefix(want[0], cfg.Output)) || !strings.HasSuffix(live[1], strings.TrimPrefix(want[1], cfg.Output)) {
		t.Errorf("live job notified %v, want the manifests of 10h and 11h", live)
	}
}

// TestAnnouncedAfterTheCloserDied: a job that dies after a bucket's manifest and before its
// announcement, and is replaced under another run id, leaves the hour unannounced; its
// successor finds it in its lookback (the manifest names the topic, no notice says it was
// announced) and announces it, once, together with the hour it closes itself, and never an
// hour already announced.
func TestAnnouncedAfterTheCloserDied(t *testing.T) {
	forLayouts(t, testAnnouncedAfterTheCloserDied)
}

func testAnnouncedAfterTheCloserDied(t *testing.T, cfg Config) {
	emu, names := runNotifying(t, &cfg) // 10h and 11h close; 12h stays open
	if n := len(pullAll(t, emu, names.Subscription)); n != 4 {
		t.Fatalf("the first job announced %d closes, want 4 (10h and 11h of each graph)", n)
	}
	// The first job died after 10h's manifest, before its notice.
	t10, t11, t12 := ts("2026-11-20T10:00:00Z").UnixMilli(), ts("2026-11-20T11:00:00Z").UnixMilli(), ts("2026-11-20T12:00:00Z").UnixMilli()
	if err := os.Remove(cfg.Target().NoticePath(t10)); err != nil {
		t.Fatal(err)
	}

	next := cfg
	next.Subscription = "projects/test/subscriptions/" + cfg.EventType
	next.RunID, next.NowMs, next.Lookback = "r2", ts("2026-11-20T13:45:00Z").UnixMilli(), 48*time.Hour
	c := stream([]message.Message{event("m3", "e3", "2026-11-20T13:05:00Z", "2026-11-20T13:04:00Z")})
	p, s := beam.NewPipelineWithRoot()
	msgs := teststream.Create(s, c) // first: Prism mixes up the sources otherwise
	clock := heartbeat.Beats(s, beam.ParDo(s, &stampFn{Layout: cfg.Layout}, beam.CreateList(s, []int64{t12, t12 + time.Hour.Milliseconds()})))
	Deliver(s, next, msgs, beam.PCollection{}, clock)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("the successor failed: %v", err)
	}

	var announced []string
	for _, m := range pullAll(t, emu, names.Subscription) {
		announced = append(announced, m.GetAttributes()[manifest.AttrManifest])
	}
	slices.Sort(announced)
	want := []string{cfg.Target().ManifestPath(t10), cfg.Target().ManifestPath(t12)}
	if !slices.Equal(announced, want) {
		t.Errorf("the successor announced %v, want %v (10h, which its predecessor never announced, and 12h, which it closed)", announced, want)
	}
	tree := readTree(t, cfg)
	for start, run := range map[int64]string{t10: "r2", t11: "r1", t12: "r2"} {
		n, ok := tree.Notices[cfg.Layout.RelDir(start)]
		if !ok || n.RunID != run || n.Topic != names.Topic {
			t.Errorf("notice of %s: %+v (present %v), want one by %s", output.Format(start), n, ok, run)
		}
	}
	if m := tree.Buckets[cfg.Layout.RelDir(t10)].Manifest; m.RunID != "r1" || m.NotifyTopic != names.Topic {
		t.Errorf("10h's manifest changed: %+v", m)
	}
	if problems := tree.Check(); len(problems) > 0 {
		t.Errorf("output tree: %v", problems)
	}
}

// pullAll pulls and acks every message the subscription holds.
func pullAll(t *testing.T, emu *pubsubemu.Emulator, sub string) []*pubsubpb.PubsubMessage {
	t.Helper()
	ctx := context.Background()
	c, err := emu.Client(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []*pubsubpb.PubsubMessage
	for {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 100, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetReceivedMessages()) == 0 {
			return got
		}
		var ackIDs []string
		for _, r := range resp.GetReceivedMessages() {
			got = append(got, r.GetMessage())
			ackIDs = append(ackIDs, r.GetAckId())
		}
		if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: ackIDs}); err != nil {
			t.Fatal(err)
		}
	}
}
