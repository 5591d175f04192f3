package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/hosts"
	"github.com/fwd-dev/fwd/internal/doctor"
	"github.com/fwd-dev/fwd/internal/loopback"
	"github.com/fwd-dev/fwd/internal/sockets"
	"github.com/fwd-dev/fwd/internal/ui"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// doctorOptions are the flags of fwd doctor: the gateway's, as fwd ls
// takes them, and what else to look at.
type doctorOptions struct {
	conn        forwardOptions
	catalogFile string
	hostsFile   string
	expose      []uint
	output      outputFlag
}

// maxAddressTries is how many of a resource's addresses fwd tries before
// a port moves (forward's maxAddressTries).
const maxAddressTries = 8

func newDoctorCmd(s streams, g *globalOptions) *cobra.Command {
	opts := &doctorOptions{conn: forwardOptions{kind: forwardAll, global: g}}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine for what stops forwards: ports taken, hosts entries, the gateway",
		Long: `Lists the listening TCP and UDP sockets with their processes (as ss -tulnp
does), then checks what fwd's forwards need: that each port is free on the
forward's own loopback address (a server on 0.0.0.0:PORT takes that port
on every loopback address), that ports below 1024 can be bound, that the
hosts file holds no entries of fwd processes that are gone nor lines that
shadow fwd's names, and that the gateway is reachable, trusted, accepts
the token and has a certificate valid by this machine's clock. On macOS it
also checks lo0's aliases.

Each finding has a severity, one line and what to do. The exit code is 1
when a finding is a problem, so that CI can run it.`,
		Example: "  fwd doctor\n  fwd doctor --project shop -o json\n  fwd doctor --catalog shop.yaml --expose 3000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.complete(); err != nil {
				return err
			}
			return runDoctor(cmd.Context(), opts, s)
		},
	}
	registerConnFlags(cmd, &opts.conn)
	f := cmd.Flags()
	f.StringVar(&opts.catalogFile, "catalog", "", "check the forwards of this catalog file (a gateway.yaml's projects:) instead of the gateway's")
	f.StringVar(&opts.hostsFile, "hosts-file", "", "hosts file to check (default: the system's)")
	f.UintSliceVar(&opts.expose, "expose", nil, "local ports you mean other machines to reach: check that their servers do not listen on loopback only")
	opts.output.register(cmd)
	return cmd
}

// complete is forwardOptions.complete without its demands: with no
// gateway anywhere, doctor checks the rest.
func (o *doctorOptions) complete() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	c := &o.conn
	c.project = envOr(c.project, "FWD_PROJECT")
	c.gateway = envOr(c.gateway, "FWD_GATEWAY")
	c.token = envOr(c.token, "FWD_TOKEN")
	c.caFile = envOr(c.caFile, "FWD_CA")
	c.fingerprint = envOr(c.fingerprint, "FWD_FINGERPRINT")
	if err := c.fromContext(); err != nil {
		return err
	}
	for _, p := range o.expose {
		if p < 1 || p > 65535 {
			return usageErrorf("--expose %d: use a port number 1-65535", p)
		}
	}
	switch {
	case c.timeout <= 0:
		return usageErrorf("--timeout %s: use a positive duration, like 10s", c.timeout)
	case c.caFile != "" && c.fingerprint != "":
		return usageErrorf("--ca and --fingerprint both set: choose one way to trust the gateway")
	case c.gateway != "":
		return checkGateways(c.gateway)
	}
	return nil
}

// doctorReport is what fwd doctor -o json prints.
type doctorReport struct {
	Listeners []doctorListener `json:"listeners"`
	Findings  []doctor.Finding `json:"findings"`
	Problems  int              `json:"problems"`
}

type doctorListener struct {
	Network string `json:"network"`
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	PID     int    `json:"pid,omitempty"`
	Program string `json:"program,omitempty"`
	UID     int    `json:"uid"`
}

func runDoctor(ctx context.Context, o *doctorOptions, s streams) error {
	rep := doctorReport{Listeners: []doctorListener{}}
	listeners, err := sockets.List()
	if err != nil {
		rep.Findings = append(rep.Findings, doctor.Finding{Check: doctor.CheckSockets, Severity: doctor.Info,
			Message: "cannot list this machine's sockets: " + err.Error(), Fix: "use lsof -nP -iTCP -sTCP:LISTEN -iUDP instead"})
	}
	for _, l := range listeners {
		rep.Listeners = append(rep.Listeners, doctorListener{l.Network, l.Addr.Addr().String(), l.Addr.Port(), l.PID, l.Program, l.UID})
	}
	cat, found := o.catalog(ctx, s)
	rep.Findings = append(rep.Findings, found...)
	fws, names := o.forwards(cat)
	rep.Findings = append(rep.Findings, doctor.Conflicts(fws, sockets.Holder)...)
	rep.Findings = append(rep.Findings, doctor.Privileged(fws, doctor.UnprivilegedPortStart(), doctor.MayBindLowPorts())...)
	rep.Findings = append(rep.Findings, doctor.Exposed(o.exposePorts(), listeners)...)
	rep.Findings = append(rep.Findings, o.hostsFindings(names)...)
	rep.Findings = append(rep.Findings, doctor.Lo0Aliases(firstAddresses(fws))...)
	rep.Problems = doctor.Problems(rep.Findings)
	if o.output.json() {
		if err := writeJSONLine(s.Out, rep); err != nil {
			return err
		}
	} else if err := printDoctor(s.Out, rep); err != nil {
		return err
	}
	if rep.Problems > 0 {
		return fmt.Errorf("found %d %s: each says what to do (fix)", rep.Problems, plural(rep.Problems, "problem", "problems"))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (o *doctorOptions) exposePorts() []uint16 {
	out := make([]uint16, len(o.expose))
	for i, p := range o.expose {
		out[i] = uint16(p)
	}
	return out
}

// catalog is what the forward checks look at: --catalog's file, else what
// the gateway lets the token see, checking the gateway on the way.
func (o *doctorOptions) catalog(ctx context.Context, s streams) (*catalog.Catalog, []doctor.Finding) {
	if o.catalogFile != "" {
		cf, err := config.LoadCatalog(o.catalogFile)
		if err != nil {
			_, msg := explain(err)
			return nil, []doctor.Finding{{Check: doctor.CheckForward, Severity: doctor.Problem, Message: msg, Fix: "fix the catalog file, or leave out --catalog"}}
		}
		return &cf.Catalog, nil
	}
	if o.conn.gateway == "" {
		return nil, []doctor.Finding{{Check: doctor.CheckGateway, Severity: doctor.Info,
			Message: "no gateway to check: the gateway and forward checks are skipped",
			Fix:     "run fwd login --gateway HOST:PORT, pass --gateway, or give a catalog with --catalog FILE"}}
	}
	var out []doctor.Finding
	var cat *catalog.Catalog
	for _, addr := range strings.Split(o.conn.gateway, ",") {
		c, found := o.checkGateway(ctx, strings.TrimSpace(addr), s)
		out = append(out, found...)
		if cat == nil {
			cat = c
		}
	}
	return cat, out
}

// checkGateway goes through what a login does, one finding a step: TCP
// and TLS trust, the certificate's dates, the login.
func (o *doctorOptions) checkGateway(ctx context.Context, addr string, s streams) (*catalog.Catalog, []doctor.Finding) {
	problem := func(err error) doctor.Finding {
		_, msg := explain(err)
		return doctor.Finding{Check: doctor.CheckGateway, Severity: doctor.Problem, Message: "gateway " + addr + ": " + msg}
	}
	trust, err := o.conn.trust()
	if err != nil {
		return nil, []doctor.Finding{problem(err)}
	}
	pctx, cancel := context.WithTimeout(ctx, o.conn.timeout)
	defer cancel()
	fp, err := tunnel.ProbeTrust(pctx, addr, trust)
	if err != nil {
		return nil, []doctor.Finding{problem(err)}
	}
	out := []doctor.Finding{{Check: doctor.CheckGateway, Severity: doctor.OK, Message: fmt.Sprintf("gateway %s: reachable, certificate trusted (%s)", addr, fp)}}
	if cert, err := doctor.PeerCertificate(pctx, addr); err != nil {
		out = append(out, doctor.Finding{Check: doctor.CheckGateway, Severity: doctor.Warning, Message: "gateway " + addr + ": cannot read its certificate's dates: " + err.Error()})
	} else {
		out = append(out, doctor.Certificate(addr, cert, time.Now()))
	}
	signers, err := o.conn.sshSigners(s)
	if err != nil {
		return nil, append(out, problem(err))
	}
	defer o.conn.ssh.Close()
	sess, err := tunnel.Dial(ctx, addr, &tunnel.ClientConfig{Token: o.conn.token, SSHSigners: signers, Trust: trust, DialTimeout: o.conn.timeout})
	if err != nil {
		return nil, append(out, problem(err))
	}
	defer sess.Close()
	cat := sess.Catalog()
	how := "token"
	if o.conn.token == "" {
		how = "SSH key"
	}
	out = append(out, doctor.Finding{Check: doctor.CheckGateway, Severity: doctor.OK,
		Message: fmt.Sprintf("gateway %s: %s accepted; it may forward %s", addr, how, projectList(cat.ProjectNames()))})
	return &cat, out
}

func projectList(names []string) string {
	if len(names) == 0 {
		return "no project"
	}
	return strings.Join(names, ", ")
}

// forwards are the ports fwd would bind for the project (every project
// without --project), each with its resource's addresses in the order fwd
// tries them, and the hostnames fwd would write, each with what it names.
func (o *doctorOptions) forwards(cat *catalog.Catalog) ([]doctor.Forward, map[string]string) {
	names := map[string]string{}
	if cat == nil {
		return nil, names
	}
	var fws []doctor.Forward
	var alloc loopback.Allocator
	for _, p := range cat.Projects {
		if o.conn.project != "" && p.Name != o.conn.project {
			continue
		}
		for _, r := range p.All() {
			id := loopback.ID{Project: r.Project, Kind: string(r.Kind), Name: r.Name}
			candidates := alloc.Candidates(id, maxAddressTries)
			alloc.Reserve(id, candidates[0])
			for _, port := range r.Ports {
				label := r.ID().String() + " " + cmp.Or(port.Name, strconv.Itoa(int(port.Port)))
				fws = append(fws, doctor.Forward{Label: label, Port: port.Port, Network: port.Protocol.Network(), Candidates: candidates})
			}
			for _, n := range append([]string{r.Name, r.Name + "." + r.Project}, r.Hostnames...) {
				names[strings.ToLower(n)] = r.ID().String()
			}
		}
	}
	return fws, names
}

func firstAddresses(fws []doctor.Forward) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, fw := range fws {
		if a := fw.Candidates[0]; !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// hostsFindings checks the hosts file: blocks of fwd processes that are
// gone, and the user's own lines that take fwd's names.
func (o *doctorOptions) hostsFindings(names map[string]string) []doctor.Finding {
	f := hosts.New(o.hostsFile)
	blocks, err := f.Blocks()
	if err != nil {
		_, msg := explain(&hostsFileError{path: f.Path(), err: err})
		return []doctor.Finding{{Check: doctor.CheckHosts, Severity: doctor.Warning, Message: msg}}
	}
	var hb []doctor.HostsBlock
	for _, b := range blocks {
		var ns []string
		for _, e := range b.Entries {
			ns = append(ns, e.Hostnames...)
		}
		hb = append(hb, doctor.HostsBlock{PID: b.Owner.PID, Alive: b.Owner.Alive(), Names: ns})
	}
	out := doctor.StaleBlocks(f.Path(), hb, hostsCleanCommand(o.hostsFile, f.Path()))
	user, err := f.UserEntries()
	if err != nil {
		return append(out, doctor.Finding{Check: doctor.CheckHosts, Severity: doctor.Warning, Message: err.Error()})
	}
	mapped := map[string]string{}
	for _, e := range user {
		for _, h := range e.Hostnames {
			mapped[strings.ToLower(h)] = e.Address
		}
	}
	return append(out, doctor.Shadowed(f.Path(), mapped, names)...)
}

// hostsCleanCommand is the fwd hosts clean that removes stale blocks of
// path: with sudo when this user cannot write it.
func hostsCleanCommand(flag, path string) string {
	cmd := "fwd hosts clean"
	if flag != "" {
		cmd += " --hosts-file " + flag
	}
	if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		w.Close()
		return cmd
	} else if errors.Is(err, os.ErrPermission) {
		return "sudo " + cmd
	}
	return cmd
}

// printDoctor prints the sockets as ss -tulnp would, then one line per
// finding, its fix on the line below.
func printDoctor(w io.Writer, rep doctorReport) error {
	styled := ui.Styled(w)
	var rows [][]string
	for _, l := range rep.Listeners {
		proc := ""
		switch {
		case l.PID > 0 && l.Program != "":
			proc = fmt.Sprintf("%s (pid %d)", l.Program, l.PID)
		case l.PID > 0:
			proc = fmt.Sprintf("pid %d", l.PID)
		default:
			proc = fmt.Sprintf("uid %d", l.UID)
		}
		rows = append(rows, []string{l.Network, netip.AddrPortFrom(netip.MustParseAddr(l.Address), l.Port).String(), proc})
	}
	if len(rows) > 0 {
		if err := ui.Table(w, styled, []string{"netid", "listening on", "process"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	for _, f := range rep.Findings {
		level := map[doctor.Severity]ui.Level{doctor.OK: ui.OK, doctor.Info: ui.Hint, doctor.Warning: ui.Warn, doctor.Problem: ui.Warn}[f.Severity]
		ui.Status(w, styled, level, fmt.Sprintf("%-7s %-12s %s", f.Severity, f.Check, f.Message))
		if f.Fix != "" {
			fmt.Fprintf(w, "  %s fix: %s\n", strings.Repeat(" ", 21), f.Fix)
		}
	}
	_, err := fmt.Fprintf(w, "%d %s\n", rep.Problems, plural(rep.Problems, "problem", "problems"))
	return err
}
