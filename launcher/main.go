// Command launcher plans, deploys and watches a fleet of eventdelivery pipelines on
// Dataflow. See docs/launcher.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventdelivery/eventdelivery/launcher/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Execute(ctx, cmd.SystemEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
