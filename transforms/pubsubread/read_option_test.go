package pubsubread

import (
	"testing"
	"time"
)

// TestOptions: each option sets what it names and refuses values out of its range.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opt   Option
		check func(options) bool
		err   bool
	}{
		{"max lease", WithMaxLease(90 * time.Minute), func(o options) bool { return o.maxLease == 90*time.Minute }, false},
		{"max lease 0", WithMaxLease(0), nil, true},
		{"max messages per pull", WithMaxMessagesPerPull(100), func(o options) bool { return o.maxMessagesPerPull == 100 }, false},
		{"max messages per pull over Pub/Sub's 1000", WithMaxMessagesPerPull(1001), nil, true},
		{"pull concurrency", WithPullConcurrency(4), func(o options) bool { return o.pullConcurrency == 4 }, false},
		{"pull concurrency 0", WithPullConcurrency(0), nil, true},
		{"max bundle", WithMaxBundle(10, time.Second), func(o options) bool { return o.maxBundleSize == 10 && o.maxBundleDuration == time.Second }, false},
		{"max bundle of no time", WithMaxBundle(10, 0), nil, true},
		{"ack on commit", WithAckOnCommit(), func(o options) bool { return o.ackOnCommit }, false},
		{"nil stopper", WithStopper(nil), nil, true},
	} {
		o := defaultOptions()
		err := tc.opt(&o)
		switch {
		case tc.err && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case !tc.err && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.err && !tc.check(o):
			t.Errorf("%s: options %+v", tc.name, o)
		}
	}
}
