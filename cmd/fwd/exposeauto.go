package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/portwatch"
	"github.com/fwd-dev/fwd/internal/projectfile"
)

// projectFileExposures are the ports of fwd.yaml (or .fwd.yaml) in the
// working directory, for fwd expose without arguments.
func projectFileExposures(o *exposeOptions) ([]forward.Exposure, error) {
	f, err := projectfile.Find(".")
	if err != nil {
		return nil, &usageError{err}
	}
	if f == nil {
		return nil, usageErrorf("nothing to expose: give a port, like fwd expose 3000, list ports in fwd.yaml, or use --auto")
	}
	var out []forward.Exposure
	for _, p := range f.Ports {
		out = append(out, o.fromFile(p))
	}
	return out, nil
}

// fromFile is one port of the project file, with the flags that apply
// to every exposure.
func (o *exposeOptions) fromFile(p projectfile.Port) forward.Exposure {
	x := o.exposure(p.LocalPort)
	x.Name, x.TCP = p.Name, p.TCP
	switch {
	case p.Auth != "":
		x.Auth = p.Auth
	case p.TCP:
		x.Auth = "" // basic auth guards HTTPS exposures only
	}
	return x
}

// autoExposer publishes ports as they open and withdraws them as they
// close (fwd expose --auto), with the project file's settings for the
// ports it lists.
type autoExposer struct {
	o       *exposeOptions
	client  *forward.Client
	printer *exposePrinter
	log     *slog.Logger
	file    map[uint16]projectfile.Port
	exposed map[uint16]bool
	skipped map[uint16]bool // said once that a localhost-only port is left alone
	self    string          // this program's name: fwd's own ports are never published
}

func runAutoExpose(ctx context.Context, o *exposeOptions, client *forward.Client, printer *exposePrinter, log *slog.Logger) error {
	a := &autoExposer{o: o, client: client, printer: printer, log: log, file: map[uint16]projectfile.Port{},
		exposed: map[uint16]bool{}, skipped: map[uint16]bool{}, self: filepath.Base(os.Args[0])}
	f, err := projectfile.Find(".")
	if err != nil {
		return &usageError{err}
	}
	if f != nil {
		for _, p := range f.Ports {
			a.file[p.LocalPort] = p
		}
	}
	// Log in before watching: a token without the expose permission, or a
	// gateway that cannot expose, is said at once.
	if _, err := client.Expose(ctx); err != nil {
		return err
	}
	log.Info("watching for ports to expose: start a server and it is published, stop it and it is withdrawn")
	err = portwatch.Watch(ctx, portwatch.Options{}, a.event)
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return err
}

func (a *autoExposer) event(e portwatch.Event) {
	port := e.Port.Port
	if !e.Open {
		if a.exposed[port] {
			delete(a.exposed, port)
			if err := a.client.StopExposing(port); err != nil {
				a.log.Warn("withdrawing an exposure", "port", port, "err", err)
			}
			a.changed(fmt.Sprintf("port %d closed: exposure withdrawn", port))
		}
		delete(a.skipped, port)
		return
	}
	if a.exposed[port] || e.Port.Program == a.self || e.Port.Program == "fwd" {
		return
	}
	fp, listed := a.file[port]
	if e.Port.LocalhostOnly && !a.o.exposeLocalhost && !(listed && fp.ExposeLocalhost) {
		if !a.skipped[port] {
			a.skipped[port] = true
			a.log.Info(fmt.Sprintf("not exposing port %d%s: it listens on %s only, so it likely expects no one else to reach it; use --expose-localhost to publish it",
				port, program(e.Port), addrList(e.Port)))
		}
		return
	}
	x := a.o.exposure(port)
	if listed {
		x = a.o.fromFile(fp)
	}
	results, err := a.client.Expose(context.Background(), x)
	if err != nil {
		a.log.Warn("cannot expose", "port", port, "err", err)
		return
	}
	if len(results) == 1 && results[0].Error == nil {
		a.exposed[port] = true
	}
	if a.printer.format == "json" || a.printer.format == "env" {
		a.changed("")
		return
	}
	a.printer.print(results)
}

// changed prints the exposures as they are now: all of them as one JSON
// line (or env lines), or for people the news alone.
func (a *autoExposer) changed(news string) {
	if a.printer.format == "json" || a.printer.format == "env" {
		a.printer.print(a.client.ExposeResults())
		return
	}
	fmt.Fprintln(a.printer.out, news)
}

func program(p portwatch.Port) string {
	if p.Program == "" {
		return ""
	}
	return fmt.Sprintf(" (%s, pid %d)", p.Program, p.PID)
}

func addrList(p portwatch.Port) string {
	s := ""
	for i, a := range p.Addrs {
		if i > 0 {
			s += " and "
		}
		s += a.String()
	}
	return s
}
