package pubsubread

import (
	"bufio"
	"context"
	"fmt"
	"github.com/eventdelivery/eventdelivery/internal/testkit/poll"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/eventdelivery/eventdelivery/internal/acks"
	"github.com/eventdelivery/eventdelivery/internal/pubsubemu"
	"github.com/eventdelivery/eventdelivery/transforms/message"
)

func init() {
	register.DoFn1x0[message.Message](&printFn{})
}

// childSubEnv makes the test binary run a reader on the named subscription, reporting claims,
// emits and acks on stdout, until it is killed.
const childSubEnv = "PUBSUBREAD_CHILD_SUBSCRIPTION"

var stdoutMu sync.Mutex

func say(format string, args ...any) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

type printFn struct{}

func (printFn) ProcessElement(m message.Message) { say("EMIT %s", m.ID) }

func childMain(sub string) int {
	beam.Init()
	testHooks.Store(&hooks{
		claimed: func(_, ackID, msgID string) { say("CLAIM %s %s", ackID, msgID) },
	})
	acks.Observe(func(_ string, ackIDs []string) {
		for _, id := range ackIDs {
			say("ACK %s", id)
		}
	})
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, printFn{}, Read(s, sub, WithAckOnCommit()))
	_, err := beam.Run(context.Background(), "prism", p)
	fmt.Fprintln(os.Stderr, "child pipeline ended:", err)
	return 1
}

// TestKilledReaderLosesNothing runs the reader in a child process, lets it read and ack a first
// wave, kills it (SIGKILL) right after it emitted a second wave, and checks that the child
// acked only messages it had emitted and that every message it did not ack comes back to a
// second reader.
func TestKilledReaderLosesNothing(t *testing.T) {
	names := pubsubemu.NewSubscription(t, 10*time.Second)
	c := client(t)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childSubEnv+"="+names.Subscription)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var mu sync.Mutex
	msgOf := map[string]string{} // ack id → message id
	emitted := map[string]bool{}
	ackedByChild := map[string]bool{}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			mu.Lock()
			switch {
			case len(f) == 3 && f[0] == "CLAIM":
				msgOf[f[1]] = f[2]
			case len(f) == 2 && f[0] == "EMIT":
				emitted[f[1]] = true
			case len(f) == 2 && f[0] == "ACK":
				ackedByChild[msgOf[f[1]]] = true
			}
			mu.Unlock()
		}
	}()
	count := func(m map[string]bool, of map[string]bool) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for id := range of {
			if m[id] {
				n++
			}
		}
		return n
	}

	// Wave 1 is read and acked; wave 2 is read, then the child dies before acking it.
	wave1 := publish(t, c, names.Topic, 0, 100, nil)
	poll.Until(t, 60*time.Second, "the child to ack wave 1", func() bool { return count(ackedByChild, ids(wave1)) == len(wave1) })
	wave2 := publish(t, c, names.Topic, 100, 100, nil)
	poll.Until(t, 30*time.Second, "the child to emit wave 2", func() bool { return count(emitted, ids(wave2)) == len(wave2) })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	want := ids(append(wave1, wave2...))
	mu.Lock()
	defer mu.Unlock()
	for id := range ackedByChild {
		if !emitted[id] {
			t.Errorf("child acked message %s it had not emitted", id)
		}
	}
	unacked := map[string]bool{}
	for id := range want {
		if !ackedByChild[id] {
			unacked[id] = true
		}
	}
	if len(unacked) == 0 {
		t.Fatal("the child acked everything before it was killed; the test proves nothing")
	}

	// A second reader gets every message the child emitted but did not ack.
	run2, obs := newObservation(t)
	stopper, wait := observeRead(t, names.Subscription, run2)
	poll.Until(t, 40*time.Second, "the killed reader's unacked messages to come back", func() bool { return obs.has(unacked) })
	stopper.Stop()
	if err := wait(60 * time.Second); err != nil {
		t.Fatalf("second reader: %v", err)
	}
	t.Logf("child emitted %d, acked %d before SIGKILL; %d came back to the second reader (%d deliveries)",
		len(emitted), len(ackedByChild), len(unacked), len(obs.deliveries))
}
