// Package poll waits, in tests of processes and services that run on their own (a binary,
// the Pub/Sub emulator, Prism), for a condition to hold, with a deadline: the test fails
// saying what it waited for, never sleeps a fixed time.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 20 * time.Millisecond

// Until checks cond every Interval until it holds, and fails t (naming what, and adding
// the text of detail when given) once within has passed.
func Until(t testing.TB, within time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(Interval) {
		if time.Now().After(deadline) {
			msg := ""
			for _, d := range detail {
				msg += "\n" + d()
			}
			t.Fatalf("%s: not within %v%s", what, within, msg)
		}
	}
}
