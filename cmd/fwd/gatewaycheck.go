package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/internal/portcheck"
	"github.com/fwd-dev/fwd/internal/ui"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// gatewayCheckOptions are the flags of fwd gateway check.
type gatewayCheckOptions struct {
	configPath  string
	timeout     time.Duration
	concurrency int
	output      outputFlag
}

func newGatewayCheckCmd(s streams) *cobra.Command {
	opts := &gatewayCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Dial every target of the catalog from here and audit its ports",
		Long: `Run where the gateway runs: dials every target of the config's catalog, as
the gateway would (TCP connect; for UDP ports a probe that a closed port
refuses), at most --concurrency at once, each within --timeout, and says
whether it is reachable, refused or timed out, and how fast. A refused
target whose host answers on a nearby common port is flagged: the config
may say 3000 where the app listens on 8080.

It also flags targets named by more than one port, a port number that two
services or addons of one project claim, and ports below 1024, which a
client without root cannot keep. The exit code is 1 when a target cannot
be reached, so that CI can run it.`,
		Example: "  fwd gateway check --config gateway.yaml\n  fwd gateway check -c gateway.yaml --timeout 1s -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.check(); err != nil {
				return err
			}
			return runGatewayCheck(cmd.Context(), opts, s)
		},
	}
	cmd.Flags().StringVarP(&opts.configPath, "config", "c", "", "gateway config file (required)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 3*time.Second, "how long each dial may take")
	cmd.Flags().IntVar(&opts.concurrency, "concurrency", 32, "dials in flight at once")
	opts.output.register(cmd)
	return cmd
}

func (o *gatewayCheckOptions) check() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	switch {
	case o.configPath == "":
		return usageErrorf("no config: pass --config FILE, the gateway's")
	case o.timeout <= 0:
		return usageErrorf("--timeout %s: use a positive duration, like 3s", o.timeout)
	case o.concurrency < 1 || o.concurrency > 1024:
		return usageErrorf("--concurrency %d: use 1 to 1024", o.concurrency)
	}
	return nil
}

// gatewayCheckReport is what -o json prints.
type gatewayCheckReport struct {
	Targets     []portcheck.Result  `json:"targets"`
	Findings    []portcheck.Finding `json:"findings"`
	Unreachable int                 `json:"unreachable"`
}

func runGatewayCheck(ctx context.Context, o *gatewayCheckOptions, s streams) error {
	cfg, err := config.Load(o.configPath)
	if err != nil {
		return err
	}
	if cfg.Kubernetes != nil {
		return fmt.Errorf("%s takes its catalog from Kubernetes, whose targets are the cluster's ready endpoints: check them there (kubectl get endpointslices), or run fwd gateway check on a config with projects:", o.configPath)
	}
	targets := catalogTargets(cfg.Catalog)
	rep := gatewayCheckReport{
		Targets:  portcheck.Check(ctx, targets, portcheck.Options{Timeout: o.timeout, Concurrency: o.concurrency}),
		Findings: portcheck.Audit(targets, 1024),
	}
	if rep.Findings == nil {
		rep.Findings = []portcheck.Finding{}
	}
	for _, r := range rep.Targets {
		if r.Status.Failed() {
			rep.Unreachable++
		}
	}
	if o.output.json() {
		err = writeJSONLine(s.Out, rep)
	} else {
		err = printGatewayCheck(s.Out, rep)
	}
	if err != nil {
		return err
	}
	if rep.Unreachable > 0 {
		return fmt.Errorf("%d of %d targets cannot be reached from here: check that their servers run and listen on the catalog's ports", rep.Unreachable, len(rep.Targets))
	}
	return nil
}

// catalogTargets lists every target of every port, in catalog order.
func catalogTargets(cat catalog.Catalog) []portcheck.Target {
	var out []portcheck.Target
	for _, p := range cat.Projects {
		for _, r := range p.All() {
			for _, port := range r.Ports {
				for _, addr := range port.Targets {
					out = append(out, portcheck.Target{Project: p.Name, Resource: r.ID().String(), PortName: port.Name,
						Port: port.Port, Network: port.Protocol.Network(), Address: addr})
				}
			}
		}
	}
	return out
}

func printGatewayCheck(w io.Writer, rep gatewayCheckReport) error {
	styled := ui.Styled(w)
	var rows [][]string
	for _, r := range rep.Targets {
		port := strconv.Itoa(int(r.Port)) + "/" + r.Network
		if r.PortName != "" {
			port = r.PortName + " " + port
		}
		note := r.Hint
		if note == "" {
			note = r.Error
		}
		rows = append(rows, []string{r.Resource, port, r.Address, string(r.Status), latency(r), note})
	}
	if err := ui.Table(w, styled, []string{"resource", "port", "target", "status", "latency", "note"}, rows); err != nil {
		return err
	}
	for _, f := range rep.Findings {
		ui.Status(w, styled, ui.Warn, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", f.Fix)
		}
	}
	_, err := fmt.Fprintf(w, "%d of %d targets reachable\n", len(rep.Targets)-rep.Unreachable, len(rep.Targets))
	return err
}

func latency(r portcheck.Result) string {
	if r.Status == portcheck.TimedOut || r.Status == portcheck.NoAnswer || r.Latency == 0 {
		return "-"
	}
	if r.Latency < time.Second {
		return r.Latency.Round(10 * time.Microsecond).String()
	}
	return r.Latency.Round(time.Millisecond).String()
}
