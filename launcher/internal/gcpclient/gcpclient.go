// Package gcpclient holds what the launcher's layers over Google's clients
// (launcher/dataflow, launcher/monitoring, launcher/pubsubschema) share: how they dial
// ([Config] and [Options], and [Clients] for the several clients of one layer), which errors are
// transient and how idempotent calls are retried ([RetryPolicy]), how many calls are in
// flight at once ([Limiter]), and reading a list to its end ([Collect]). It is a leaf: it
// imports no other package of the module.
package gcpclient

import (
	"errors"

	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Config says how to reach one of Google's services, the real one or a fake. It is
// launcher/dataflow's and launcher/monitoring's Config: the same two settings for each
// service, so that they are written once.
type Config struct {
	// EmulatorHost is host:port of a fake; empty means the real service with Application
	// Default Credentials.
	EmulatorHost string
	// Options are passed to Google's clients after the ones Dial derives.
	Options []option.ClientOption
}

// ClientOptions returns the client options cfg stands for: [Options] of its EmulatorHost,
// then its Options.
func (cfg Config) ClientOptions() []option.ClientOption {
	return Options(cfg.EmulatorHost, cfg.Options)
}

// Options returns the client options for a service: with emulatorHost (host:port of a fake
// such as launcher/fakegcp) an insecure gRPC connection without credentials to it, else
// none (Application Default Credentials); then extra.
func Options(emulatorHost string, extra []option.ClientOption) []option.ClientOption {
	var opts []option.ClientOption
	if emulatorHost != "" {
		opts = append(opts,
			option.WithEndpoint(emulatorHost),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		)
	}
	return append(opts, extra...)
}

// Collect calls next, the Next of one of Google's iterators, until it is done, and returns
// what it gave; on an error, nil and the error.
func Collect[T any](next func() (T, error)) ([]T, error) {
	var out []T
	for {
		v, err := next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}
