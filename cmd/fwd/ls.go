package main

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/internal/ui"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

func newLsCmd(s streams, g *globalOptions) *cobra.Command {
	opts := &forwardOptions{kind: forwardAll, global: g, connectWait: time.Second} // it forwards nothing: any wait will do
	cmd := &cobra.Command{
		Use:     "ls [PROJECT]",
		Aliases: []string{"catalog"},
		Short:   "List what the token can forward: projects, services, addons, ports and hostnames",
		Example: "  fwd ls\n  fwd ls shop -o json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.takeArgs(args); err != nil {
				return err
			}
			if err := opts.complete(); err != nil {
				return err
			}
			return runLs(cmd.Context(), opts, s)
		},
	}
	registerConnFlags(cmd, opts)
	opts.output.register(cmd)
	return cmd
}

// lsRow is one port of the catalog as fwd ls -o json prints it.
type lsRow struct {
	Type      string   `json:"type"`
	ProjectID string   `json:"projectId"`
	ID        string   `json:"id"`
	PortName  string   `json:"portName,omitempty"`
	Port      int      `json:"port"`
	Protocol  string   `json:"protocol"`
	Hostnames []string `json:"hostnames"`
	Env       []string `json:"env,omitempty"` // the names of its connection details, never their values
}

func runLs(ctx context.Context, o *forwardOptions, s streams) error {
	cat, err := fetchCatalog(ctx, o, s)
	if err != nil {
		return err
	}
	rows := []lsRow{}
	for _, p := range cat.Projects {
		if o.project != "" && p.Name != o.project {
			continue
		}
		for _, r := range p.All() {
			rows = append(rows, resourceRows(r)...)
		}
	}
	if o.project != "" && len(rows) == 0 {
		if _, err := cat.Project(o.project); err != nil {
			return err
		}
	}
	if o.output.json() {
		return writeJSONLine(s.Out, rows)
	}
	var table [][]string
	for _, r := range rows {
		table = append(table, []string{r.Type, r.ProjectID, r.ID, r.PortName, strconv.Itoa(r.Port), r.Protocol, strings.Join(r.Hostnames, " "), strings.Join(r.Env, " ")})
	}
	return ui.Table(s.Out, ui.Styled(s.Out), []string{"type", "project", "name", "port", "number", "protocol", "hostnames", "env"}, table)
}

func resourceRows(r catalog.Resource) []lsRow {
	names := append([]string{r.Name, r.Name + "." + r.Project}, r.Hostnames...)
	var env []string
	for k := range r.Env {
		env = append(env, k)
	}
	sort.Strings(env)
	var out []lsRow
	for _, p := range r.Ports {
		out = append(out, lsRow{string(r.Kind), r.Project, r.Name, p.Name, int(p.Port), string(p.Protocol), names, env})
	}
	return out
}

// fetchCatalog logs in and reads what the token or SSH key may see.
func fetchCatalog(ctx context.Context, o *forwardOptions, s streams) (catalog.Catalog, error) {
	trust, err := o.trust()
	if err != nil {
		return catalog.Catalog{}, err
	}
	signers, err := o.sshSigners(s)
	if err != nil {
		return catalog.Catalog{}, err
	}
	defer o.ssh.Close()
	sess, err := tunnel.Dial(ctx, o.gateway, &tunnel.ClientConfig{Token: o.token, SSHSigners: signers, Trust: trust, DialTimeout: o.timeout})
	if err != nil {
		return catalog.Catalog{}, err
	}
	defer sess.Close()
	return sess.Catalog(), nil
}
