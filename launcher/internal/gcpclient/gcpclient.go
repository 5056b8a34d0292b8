// Package gcpclient holds what the launcher's layers over Google's clients
// (launcher/dataflow, launcher/monitoring, launcher/pubsubschema) share: how they dial
// ([Options], and [Clients] for the several clients of one layer), which errors are
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
