package pubsubemu

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

var shared struct {
	once sync.Once
	emu  *Emulator
	err  error
}

// ForTest returns the emulator shared by all tests of this test binary, starting it on first
// use (see Start) and exporting its address in PUBSUB_EMULATOR_HOST. When the emulator cannot
// be started, most likely because the Cloud SDK is missing, the test fails with the reason and
// how to install it; it never skips. Call CloseShared from TestMain after the tests ran.
func ForTest(t testing.TB) *Emulator {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout)
		defer cancel()
		shared.emu, shared.err = Start(ctx)
		if shared.err == nil {
			shared.err = shared.emu.Export()
		}
	})
	if shared.err != nil {
		t.Fatalf("Pub/Sub emulator: %v", shared.err)
	}
	return shared.emu
}

// CloseShared stops the emulator started by ForTest, if any.
func CloseShared() {
	if shared.emu != nil {
		_ = shared.emu.Close()
	}
}

// NewSubscription creates a topic and a subscription with unique names derived from the test's
// name on the shared emulator, with the given ack deadline (see Emulator.CreateSubscription).
func NewSubscription(t testing.TB, ackDeadline time.Duration) Names {
	t.Helper()
	e := ForTest(t)
	id := fmt.Sprintf("%s-%d", sanitize(t.Name()), time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := e.CreateSubscription(ctx, "", "t-"+id, "s-"+id, ackDeadline)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sanitize makes s usable in a resource id: letters, digits and dashes, at most 150 characters.
func sanitize(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 150; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			b = append(b, c)
		default:
			b = append(b, '-')
		}
	}
	return string(b)
}
