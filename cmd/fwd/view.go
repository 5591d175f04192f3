package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/ui"
)

// forwardView shows results: once as JSON for scripts, or as a table that is
// shown again whenever the forwards or the tunnel's state change. Until the
// forwards are up, it shows what it waits for on a status line on stderr
// (on a terminal) or in debug log lines.
type forwardView struct {
	out      io.Writer
	format   string // table, json, env or dotenv
	json     bool   // any machine format: one print, no reprints
	styled   bool
	gateway  string
	log      *slog.Logger
	progress *ui.Progress

	mu      sync.Mutex // start runs on the command's goroutine, event on fwd's
	started bool
	last    forward.State
}

func newForwardView(out, errOut io.Writer, format string, gateway string, log *slog.Logger) *forwardView {
	machine := format != "" && format != "table"
	return &forwardView{out: out, format: format, json: machine, styled: ui.Styled(out), gateway: gateway, log: log, progress: ui.NewProgress(errOut)}
}

// connected clears the status line: the forwards are up, or failed.
func (v *forwardView) connected() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.progress.Clear()
}

// start prints the first view: for JSON, the one line scripts wait for;
// for env and dotenv, the variables, once.
func (v *forwardView) start(results []forward.Result, client *forward.Client) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.started = true
	v.last = forward.StateConnected
	switch v.format {
	case "json":
		return writeJSONLine(v.out, results)
	case "env", "dotenv":
		vars, err := client.Env()
		if err != nil {
			return err
		}
		return writeEnv(v.out, v.format, vars)
	}
	return v.table(results)
}

func (v *forwardView) table(results []forward.Result) error {
	err := resultTable(v.out, v.styled, results)
	for _, r := range results {
		if r.Data != nil && (r.Data.Protocol == "HTTP" || r.Data.Protocol == "HTTP2") {
			host := r.Data.Address
			if len(r.Data.Hostnames) > 0 {
				host = r.Data.Hostnames[0]
			}
			ui.Status(v.out, v.styled, ui.Hint, "Try: curl "+httpURL(host, r.Data.Port))
			break
		}
	}
	ui.Status(v.out, v.styled, ui.OK, "forwarding; press Ctrl-C to stop")
	return err
}

// event runs on fwd's goroutines; the table view reprints on changes. JSON
// output stays one line: changes go to the log on stderr.
func (v *forwardView) event(e forward.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.State == forward.StateConnecting {
		v.phase(e)
		return
	}
	if !v.started {
		if e.State == forward.StateConnected {
			v.progress.Show(v.gateway + ": logged in; opening the local ports…")
		}
		return
	}
	if e.CatalogChanged {
		v.catalogChanged(e.Results)
		return
	}
	if v.json {
		return
	}
	switch {
	case e.State == forward.StateReconnecting && v.last != forward.StateReconnecting:
		ui.Status(v.out, v.styled, ui.Warn, "tunnel down: reconnecting; local ports stay open")
	case e.State == forward.StateConnected && v.last == forward.StateReconnecting:
		ui.Status(v.out, v.styled, ui.OK, "tunnel up again")
		v.table(e.Results)
	}
	v.last = e.State
}

// catalogChanged shows the forwards after the gateway pushed a new
// catalog: the table again, or, for JSON, the results as a new line
// (scripts that read only the first line are not disturbed; those that
// follow the forwards read on). env and dotenv were printed once, and
// --env-file follows on its own.
func (v *forwardView) catalogChanged(results []forward.Result) {
	switch v.format {
	case "json":
		if err := writeJSONLine(v.out, results); err != nil {
			v.log.Warn("printing the new forwards", "err", err)
		}
	case "env", "dotenv":
		v.log.Info("the gateway's catalog changed; the variables printed above may be out of date")
	default:
		ui.Status(v.out, v.styled, ui.OK, "the gateway's catalog changed")
		v.table(results)
	}
}

// phase says which step of connecting is under way: on the status line
// before the forwards are first up, and in debug logs always.
func (v *forwardView) phase(e forward.Event) {
	v.log.Debug(e.Phase.String(), "gateway", v.gateway)
	if !v.started {
		v.progress.Show(fmt.Sprintf("%s: %s…", v.gateway, e.Phase))
	}
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// resultTable lists forwards: type, project, name, port name, protocol, local
// address:port and hostnames.
func resultTable(w io.Writer, styled bool, results []forward.Result) error {
	var rows [][]string
	failed, summary := failureSummary(results)
	for _, m := range failed {
		rows = append(rows, []string{"error", "", "", "", "", m, ""})
	}
	for _, r := range results {
		if r.Error != nil {
			continue
		}
		d := r.Data
		local := net.JoinHostPort(d.Address, strconv.Itoa(d.Port))
		if d.Note != "" && d.Port != d.RemotePort {
			local += fmt.Sprintf(" (not %d)", d.RemotePort)
		}
		rows = append(rows, []string{d.Type, d.ProjectID, d.ID, d.PortName, d.Protocol, local, strings.Join(d.Hostnames, " ")})
	}
	if err := ui.Table(w, styled, []string{"type", "project", "name", "port", "protocol", "local address", "hostnames"}, rows); err != nil {
		return err
	}
	for _, r := range results {
		if r.Data != nil && r.Data.Note != "" {
			ui.Status(w, styled, ui.Warn, fmt.Sprintf("%s/%s: %s", r.Data.ProjectID, r.Data.ID, r.Data.Note))
		}
	}
	for _, line := range summary {
		ui.Status(w, styled, ui.Warn, line)
	}
	return nil
}

// httpURL is the URL to try for an HTTP port, without ":80".
func httpURL(host string, port int) string {
	if port == 80 {
		return "http://" + host + "/"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
}
