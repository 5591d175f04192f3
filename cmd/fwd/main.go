// Command fwd forwards the private ports of a project's services and addons
// to this machine through one TLS tunnel, and runs the gateway that serves
// them. See the README for a tour.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// stopSignals end every command cleanly: Ctrl-C, a service manager's
// SIGTERM, and SIGHUP from a terminal that was closed, so that no hostnames
// are left behind. The gateway drains on the first two and reloads its
// config on SIGHUP (see onHangup).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// onHangup, when set, is what SIGHUP does instead of stopping: the
// gateway's reload, as daemons do.
var onHangup atomic.Pointer[func()]

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, hungUp := context.WithCancel(ctx)
	stopHangups := handleHangups(hungUp)
	code := run(ctx, os.Args[1:], streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stopHangups()
	stop()
	os.Exit(code)
}

// handleHangups runs onHangup on each SIGHUP, or stop when it is unset.
func handleHangups(stop func()) (done func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		for range ch {
			if f := onHangup.Load(); f != nil {
				(*f)()
			} else {
				stop()
			}
		}
	}()
	return func() { signal.Stop(ch) }
}

// notifySignals delivers the next stop signal, for a second Ctrl-C during
// shutdown; stop ends the delivery.
func notifySignals() (c <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, stopSignals...)
	return ch, func() { signal.Stop(ch) }
}
