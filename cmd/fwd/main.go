// Command fwd forwards the private ports of a project's services and addons
// to this machine through one TLS tunnel, and runs the gateway that serves
// them. See the README for a tour.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals end every command cleanly: Ctrl-C, a service manager's
// SIGTERM, and SIGHUP from a terminal that was closed, so that no hostnames
// are left behind. The gateway drains on each (it has no reload yet).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	code := run(ctx, os.Args[1:], streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

// notifySignals delivers the next stop signal, for a second Ctrl-C during
// shutdown; stop ends the delivery.
func notifySignals() (c <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, stopSignals...)
	return ch, func() { signal.Stop(ch) }
}
