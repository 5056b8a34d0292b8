package pubsubread

import "github.com/eventdelivery/eventdelivery/internal/stop"

// Stopper stops readers gracefully; see internal/stop.
type Stopper = stop.Stopper

// NewStopper returns a Stopper that has not been stopped.
func NewStopper() *Stopper { return stop.New() }
