package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/control"
	"github.com/fwd-dev/fwd/internal/ui"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// controlDir is where this user's running clients put their control
// sockets; FWD_RUNTIME_DIR overrides it (tests, or several setups side by
// side).
func controlDir() string {
	if dir := os.Getenv("FWD_RUNTIME_DIR"); dir != "" {
		return dir
	}
	return control.Dir(os.Getuid(), os.Getenv("XDG_RUNTIME_DIR"), os.TempDir())
}

// controlHandler answers fwd status and fwd stop for a running client.
type controlHandler struct {
	client  *forward.Client
	command string
	context string
	started time.Time
	stopAll func() // ends the command as Ctrl-C does
}

func (h *controlHandler) Status() control.Status {
	state, since := h.client.State()
	st := control.Status{PID: os.Getpid(), Command: h.command, Context: h.context, Gateway: h.client.Gateway(),
		State: state.String(), StateSince: since, Started: h.started, Forwards: []control.Forward{}}
	for _, p := range h.client.Stats() {
		st.Forwards = append(st.Forwards, control.Forward{Type: p.Type, ProjectID: p.ProjectID, ID: p.ID,
			PortName: p.PortName, Protocol: p.Protocol, Address: p.Address, Port: p.Port, RemotePort: p.RemotePort,
			Hostnames: p.Hostnames, Connections: p.Connections, BytesSent: p.BytesSent, BytesReceived: p.BytesReceived, Since: p.Since})
	}
	return st
}

func (h *controlHandler) Stop(r control.StopRequest) error {
	switch {
	case r.Whole():
		h.stopAll()
		return nil
	case r.Name != "":
		return h.client.StopForwarding(catalog.Kind(r.Kind), r.Project, r.Name)
	}
	return h.stopProject(r.Project)
}

// stopProject stops every forward of one project.
func (h *controlHandler) stopProject(project string) error {
	stopped := map[string]bool{}
	for _, res := range h.client.Results() {
		if d := res.Data; d != nil && d.ProjectID == project && !stopped[d.Type+"/"+d.ID] {
			stopped[d.Type+"/"+d.ID] = true
			if err := h.client.StopForwarding(catalog.Kind(d.Type), d.ProjectID, d.ID); err != nil {
				return err
			}
		}
	}
	if len(stopped) == 0 {
		return fmt.Errorf("nothing forwarded for project %s", project)
	}
	return nil
}

// serveControl starts the client's control socket, or says why fwd status
// will not see it; forwarding goes on either way.
func serveControl(h *controlHandler, log interface{ Warn(string, ...any) }) func() {
	srv, err := control.Listen(controlDir(), h)
	if err != nil {
		log.Warn("fwd status and fwd stop will not see this process", "err", err)
		return func() {}
	}
	return func() { srv.Close() }
}

// statusOptions are the flags of fwd status.
type statusOptions struct {
	output outputFlag
}

func newStatusCmd(s streams) *cobra.Command {
	opts := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the running fwd clients of this user: what each forwards, and its traffic",
		Long: `Lists every fwd client this user runs (fwd service, addon, all, exec):
its pid, gateway and tunnel state, and for each forwarded port its local
address, hostnames, open connections and bytes each way. Forwards started
with sudo belong to root: see them with sudo fwd status.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.output.validate(); err != nil {
				return err
			}
			return runStatus(cmd.Context(), opts, s)
		},
	}
	opts.output.register(cmd)
	return cmd
}

func runStatus(ctx context.Context, o *statusOptions, s streams) error {
	statuses, err := runningStatuses(ctx)
	if err != nil {
		return err
	}
	if o.output.json() {
		return writeJSONLine(s.Out, statuses)
	}
	styled := ui.Styled(s.Out)
	if len(statuses) == 0 {
		ui.Status(s.Out, styled, ui.OK, "no fwd client is running for this user")
		return nil
	}
	return statusTable(s, styled, statuses)
}

// runningStatuses asks every running client for its status.
func runningStatuses(ctx context.Context) ([]control.Status, error) {
	clients, err := control.Clients(ctx, controlDir())
	if err != nil {
		return nil, err
	}
	out := []control.Status{}
	for _, c := range clients {
		st, err := c.Status(ctx)
		if err != nil {
			continue // it ended meanwhile
		}
		out = append(out, st)
	}
	return out, nil
}

func statusTable(s streams, styled bool, statuses []control.Status) error {
	var rows [][]string
	for _, st := range statuses {
		head := []string{strconv.Itoa(st.PID), st.Gateway, st.State + " " + ago(st.StateSince)}
		if len(st.Forwards) == 0 {
			rows = append(rows, append(head, "", "", "", "", "", ""))
		}
		for _, f := range st.Forwards {
			local := f.Address + ":" + strconv.Itoa(f.Port)
			rows = append(rows, append(head, f.Type+" "+f.ProjectID+"/"+f.ID+" "+f.PortName, local,
				strings.Join(f.Hostnames, " "), strconv.FormatInt(f.Connections, 10), bytesText(f.BytesSent)+" / "+bytesText(f.BytesReceived), ago(f.Since)))
			head = []string{"", "", ""}
		}
	}
	return ui.Table(s.Out, styled, []string{"pid", "gateway", "tunnel", "forward", "local address", "hostnames", "conns", "sent / received", "since"}, rows)
}

// ago is a duration people read: "for 3m12s".
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return "for " + time.Since(t).Round(time.Second).String()
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// stopOptions are the flags of fwd stop.
type stopOptions struct {
	project, service, addon string
	pid                     int
	output                  outputFlag
}

func newStopCmd(s streams) *cobra.Command {
	opts := &stopOptions{}
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop a forward inside a running fwd client, or a whole client",
		Long: `Stops one service's or addon's forward inside the running clients that
have it (its listeners close and its hostnames go, exactly as on Ctrl-C),
every forward of a project (--project alone), or a whole client (--pid
alone, or nothing when only one client runs).`,
		Example: "  fwd stop --addon db -p shop\n  fwd stop --pid 4242\n  fwd stop",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			return runStop(cmd.Context(), opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.project, "project", "p", "", "the project of the service or addon (env FWD_PROJECT)")
	f.StringVar(&opts.service, "service", "", "stop this service's forward")
	f.StringVar(&opts.addon, "addon", "", "stop this addon's forward")
	f.IntVar(&opts.pid, "pid", 0, "the client to stop in, or to stop whole")
	opts.output.register(cmd)
	return cmd
}

func (o *stopOptions) validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	o.project = envOr(o.project, "FWD_PROJECT")
	if o.service != "" && o.addon != "" {
		return usageErrorf("--service and --addon both set: stop one at a time")
	}
	return nil
}

// findProject fills in the project of --service or --addon when none was
// given: the one project among the running clients' forwards that has it.
func (o *stopOptions) findProject(ctx context.Context) error {
	kind, name := "service", o.service
	if o.addon != "" {
		kind, name = "addon", o.addon
	}
	if name == "" || o.project != "" {
		return nil
	}
	statuses, err := runningStatuses(ctx)
	if err != nil {
		return err
	}
	projects := map[string]bool{}
	for _, st := range statuses {
		for _, f := range st.Forwards {
			if f.Type == kind && f.ID == name {
				projects[f.ProjectID] = true
			}
		}
	}
	switch len(projects) {
	case 0:
		return fmt.Errorf("no running fwd forwards %s %s: see fwd status", kind, name)
	case 1:
		for p := range projects {
			o.project = p
		}
		return nil
	}
	return usageErrorf("%s %s is forwarded from more than one project: pass --project", kind, name)
}

// request is what to ask each client to stop.
func (o *stopOptions) request() control.StopRequest {
	switch {
	case o.service != "":
		return control.StopRequest{Kind: "service", Project: o.project, Name: o.service}
	case o.addon != "":
		return control.StopRequest{Kind: "addon", Project: o.project, Name: o.addon}
	}
	return control.StopRequest{Project: o.project}
}

func runStop(ctx context.Context, o *stopOptions, s streams) error {
	if err := o.findProject(ctx); err != nil {
		return err
	}
	clients, err := control.Clients(ctx, controlDir())
	if err != nil {
		return err
	}
	targets, err := o.pick(clients)
	if err != nil {
		return err
	}
	req := o.request()
	var stopped []int
	var errs []error
	for _, c := range targets {
		if err := c.Stop(ctx, req); err != nil {
			errs = append(errs, err)
			continue
		}
		stopped = append(stopped, c.PID)
	}
	if len(stopped) == 0 {
		return errors.Join(errs...)
	}
	if o.output.json() {
		return writeJSONLine(s.Out, map[string]any{"stopped": stopped})
	}
	for _, pid := range stopped {
		ui.Status(s.Out, ui.Styled(s.Out), ui.OK, fmt.Sprintf("stopped %s in fwd pid %d", o.what(), pid))
	}
	return nil
}

// pick chooses the clients the request goes to.
func (o *stopOptions) pick(clients []*control.Client) ([]*control.Client, error) {
	if len(clients) == 0 {
		return nil, errNothingRunning
	}
	if o.pid != 0 {
		for _, c := range clients {
			if c.PID == o.pid {
				return []*control.Client{c}, nil
			}
		}
		return nil, fmt.Errorf("no fwd client with pid %d runs for this user: see fwd status", o.pid)
	}
	if o.request().Whole() && len(clients) > 1 {
		pids := make([]string, len(clients))
		for i, c := range clients {
			pids[i] = strconv.Itoa(c.PID)
		}
		return nil, usageErrorf("%d fwd clients are running (pids %s): pick one with --pid, or name a forward", len(clients), strings.Join(pids, ", "))
	}
	return clients, nil
}

func (o *stopOptions) what() string {
	switch {
	case o.service != "":
		return "service " + o.project + "/" + o.service
	case o.addon != "":
		return "addon " + o.project + "/" + o.addon
	case o.project != "":
		return "project " + o.project
	}
	return "everything"
}

var errNothingRunning = errors.New("no fwd client is running for this user (forwards started with sudo: sudo fwd stop)")
