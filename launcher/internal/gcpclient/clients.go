package gcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/api/option"
)

// Clients are the Google clients one layer dials with the same options (launcher/dataflow's,
// launcher/monitoring's, launcher/pubsubschema's), closed together. The first failed dial
// sticks: the dials after it do nothing, and [Clients.Err] closes what was dialed and
// returns it. A layer dials through [Open], which checks Err for it.
type Clients struct {
	ctx  context.Context
	opts []option.ClientOption
	open []io.Closer
	err  error
}

// NewClients starts dialing with opts.
func NewClients(ctx context.Context, opts []option.ClientOption) *Clients {
	return &Clients{ctx: ctx, opts: opts}
}

// Open dials the clients of one layer with opts: dial dials each of them with [Dial] and
// returns the layer's value that holds them (and cs, to close them). When a dial fails,
// Open closes the clients dialed and returns the zero T and the first failure, so that no
// layer returns a value with a missing client.
func Open[T any](ctx context.Context, opts []option.ClientOption, dial func(cs *Clients) T) (T, error) {
	cs := NewClients(ctx, opts)
	v := dial(cs)
	if err := cs.Err(); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Dial dials one client with newClient (one of Google's New…Client functions). When it
// fails, or an earlier dial of cs failed, it returns the zero T; [Clients.Err] reports the
// failure as "what: error".
func Dial[T io.Closer](cs *Clients, what string, newClient func(context.Context, ...option.ClientOption) (T, error)) T {
	var zero T
	if cs.err != nil {
		return zero
	}
	c, err := newClient(cs.ctx, cs.opts...)
	if err != nil {
		cs.err = fmt.Errorf("%s: %w", what, err)
		return zero
	}
	cs.open = append(cs.open, c)
	return c
}

// Err returns nil when every dial succeeded; else it closes the clients dialed and returns
// the first failure.
func (cs *Clients) Err() error {
	if cs.err != nil {
		cs.Close()
	}
	return cs.err
}

// Close closes every client dialed, in order, and joins their errors.
func (cs *Clients) Close() error {
	if cs == nil {
		return nil
	}
	var errs []error
	for _, c := range cs.open {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
