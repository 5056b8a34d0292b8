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

	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/transforms/manifest"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

// TestCloseNotifications runs a replay and a live job (runStream) with --notify_topic on the
// Cloud SDK's emulator: each publishes exactly one message per bucket it closes, carrying
// the manifest as written, and none for the bucket the wall clock keeps open.
func TestCloseNotifications(t *testing.T) {
	forLayouts(t, testCloseNotifications)
}

func testCloseNotifications(t *testing.T, cfg Config) {
	emu := pubsubemu.ForTest(t)
	names := pubsubemu.NewSubscription(t, 60*time.Second)
	cfg.NotifyTopic = names.Topic
	cfg.NowMs = ts("2026-11-20T12:45:00Z").UnixMilli() // 10h and 11h are over; 12h closes at 13:30
	runStream(t, cfg, stream(
		[]message.Message{event("m1", "e1", "2026-11-20T10:05:00Z", "2026-11-20T10:04:00Z")},
		[]message.Message{event("m2", "e2", "2026-11-20T12:10:00Z", "2026-11-20T12:09:00Z")},
	))

	ctx := context.Background()
	c, err := emu.Client(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []*pubsubpb.PubsubMessage
	for {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: names.Subscription, MaxMessages: 100, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetReceivedMessages()) == 0 {
			break
		}
		var ackIDs []string
		for _, r := range resp.GetReceivedMessages() {
			got = append(got, r.GetMessage())
			ackIDs = append(ackIDs, r.GetAckId())
		}
		if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: names.Subscription, AckIds: ackIDs}); err != nil {
			t.Fatal(err)
		}
	}
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
