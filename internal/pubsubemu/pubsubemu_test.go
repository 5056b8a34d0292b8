package pubsubemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

func TestMain(m *testing.M) {
	if os.Getenv("PUBSUBEMU_CHILD") == "1" {
		childStartAndWait()
		return
	}
	code := m.Run()
	CloseShared()
	os.Exit(code)
}

// roundTrip publishes n messages to names.Topic and pulls and acks them from names.Subscription.
func roundTrip(t *testing.T, e *Emulator, names Names, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := e.Client(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pub := c.Publisher(names.Topic)
	defer pub.Stop()
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		id, err := pub.Publish(ctx, &pubsub.Message{Data: []byte(strconv.Itoa(i)), Attributes: map[string]string{"i": strconv.Itoa(i)}}).Get(ctx)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		want[id] = true
	}
	for len(want) > 0 {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: names.Subscription, MaxMessages: 100})
		if err != nil {
			t.Fatalf("pull (%d messages missing): %v", len(want), err)
		}
		var acks []string
		for _, m := range resp.ReceivedMessages {
			if m.Message.Attributes["i"] != string(m.Message.Data) {
				t.Errorf("message %s: attribute i=%q, data %q", m.Message.MessageId, m.Message.Attributes["i"], m.Message.Data)
			}
			delete(want, m.Message.MessageId)
			acks = append(acks, m.AckId)
		}
		if len(acks) > 0 {
			if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: names.Subscription, AckIds: acks}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestShared(t *testing.T) {
	e := ForTest(t)
	if os.Getenv(EnvHost) != e.Host {
		t.Errorf("%s = %q, want %q", EnvHost, os.Getenv(EnvHost), e.Host)
	}
	names := NewSubscription(t, 10*time.Second)
	roundTrip(t, e, names, 20)

	// The subscription has the requested ack deadline.
	ctx := context.Background()
	c, err := e.Client(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: names.Subscription})
	if err != nil {
		t.Fatal(err)
	}
	if sub.AckDeadlineSeconds != 10 {
		t.Errorf("ack deadline = %ds, want 10s", sub.AckDeadlineSeconds)
	}
	// A second topic+subscription call with the same topic works (topic already exists).
	if _, err := e.CreateSubscription(ctx, "", strings.TrimPrefix(names.Topic, "projects/"+e.Project+"/topics/"), "other-"+strconv.FormatInt(time.Now().UnixNano(), 10), 0); err != nil {
		t.Errorf("second subscription on an existing topic: %v", err)
	}
}

func TestFake(t *testing.T) {
	e, err := StartFake()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if !e.Fake {
		t.Error("Fake = false")
	}
	names, err := e.CreateSubscription(context.Background(), "", "t", "s", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, e, names, 5)
}

func TestNoCloudSDK(t *testing.T) {
	t.Setenv(EnvHost, "")
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background())
	if !errors.Is(err, ErrNoCloudSDK) {
		t.Fatalf("Start without gcloud: err = %v, want ErrNoCloudSDK", err)
	}
	if !strings.Contains(err.Error(), "install") {
		t.Errorf("error does not say how to install: %v", err)
	}
	e, err := StartOrFake(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if !e.Fake {
		t.Error("StartOrFake without gcloud did not fall back to the fake")
	}
}

func TestExternal(t *testing.T) {
	t.Setenv(EnvHost, "127.0.0.1:1")
	e, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !e.External || e.Host != "127.0.0.1:1" {
		t.Errorf("Start with %s set = %+v", EnvHost, e)
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
}

// childStartAndWait runs in a child process: it starts an emulator, prints its host and process
// group, and waits to be killed.
func childStartAndWait() {
	os.Unsetenv(EnvHost)
	e, err := Start(context.Background())
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("STARTED", e.Host, e.cmd.Process.Pid, e.gcloudPgid)
	select {}
}

// TestOwnedEmulatorStops starts emulators that this test owns and checks that both Close and the
// death of the starting process (SIGKILL, no cleanup) stop the emulator's whole process group.
func TestOwnedEmulatorStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two more emulators")
	}
	t.Run("Close", func(t *testing.T) {
		t.Setenv(EnvHost, "")
		e, err := Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		assertGone(t, e.Host, e.cmd.Process.Pid, e.gcloudPgid)
	})
	t.Run("StarterKilled", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PUBSUBEMU_CHILD=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("child: %v", err)
		}
		var host string
		var pgid, gpgid int
		if _, err := fmt.Sscanf(line, "STARTED %s %d %d", &host, &pgid, &gpgid); err != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("child said %q", line)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		assertGone(t, host, pgid, gpgid)
	})
}

// assertGone waits up to 20s for the process groups to vanish and the port to close.
func assertGone(t *testing.T, host string, pgids ...int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		groupAlive := false
		for _, g := range pgids {
			groupAlive = groupAlive || g > 0 && syscall.Kill(-g, 0) == nil
		}
		conn, err := net.DialTimeout("tcp", host, time.Second)
		listening := err == nil
		if listening {
			conn.Close()
		}
		if !groupAlive && !listening {
			return
		}
		if time.Now().After(deadline) {
			for _, g := range pgids {
				_ = syscall.Kill(-g, syscall.SIGKILL)
			}
			t.Fatalf("emulator still running: process groups %v alive=%v, %s listening=%v", pgids, groupAlive, host, listening)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
