package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/internal/contexts"
	"github.com/fwd-dev/fwd/internal/ui"
)

func newContextCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "context",
		Short: "List, choose, rename and delete saved gateways (fwd login makes them)",
	}
	list := &outputFlag{}
	ls := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List the saved gateways; * marks the current one", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := list.validate(); err != nil {
				return err
			}
			return runContextList(list, s)
		},
	}
	list.register(ls)
	cmd.AddCommand(ls,
		contextVerb(s, "use NAME", "Make a context the current one", 1, func(st *contexts.Store, a []string) (string, error) {
			return fmt.Sprintf("now using context %q", a[0]), st.Use(a[0])
		}),
		contextVerb(s, "rename OLD NEW", "Rename a context (its token moves with it)", 2, func(st *contexts.Store, a []string) (string, error) {
			return fmt.Sprintf("renamed context %q to %q", a[0], a[1]), st.Rename(a[0], a[1])
		}),
		contextVerb(s, "delete NAME", "Delete a context and its token", 1, func(st *contexts.Store, a []string) (string, error) {
			return fmt.Sprintf("deleted context %q", a[0]), st.Delete(a[0])
		}),
	)
	return cmd
}

// contextVerb is a context subcommand that changes the store.
func contextVerb(s streams, use, short string, n int, do func(*contexts.Store, []string) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(n), ValidArgsFunction: completeContexts,
		RunE: func(_ *cobra.Command, args []string) error {
			st, err := openContexts()
			if err != nil {
				return err
			}
			msg, err := do(st, args)
			if err != nil {
				return err
			}
			ui.Status(s.Out, ui.Styled(s.Out), ui.OK, msg)
			return nil
		},
	}
}

// contextRow is one context as fwd context list -o json prints it.
type contextRow struct {
	Name        string `json:"name"`
	Current     bool   `json:"current"`
	Gateway     string `json:"gateway"`
	Fingerprint string `json:"fingerprint,omitempty"`
	CA          string `json:"ca,omitempty"`
	Project     string `json:"project,omitempty"`
}

func runContextList(o *outputFlag, s streams) error {
	_, cfg, err := loadContexts()
	if err != nil {
		return err
	}
	rows := []contextRow{}
	for _, c := range cfg.Contexts {
		rows = append(rows, contextRow{c.Name, c.Name == cfg.CurrentName, c.Gateway, c.Fingerprint, c.CA, c.Project})
	}
	if o.json() {
		return writeJSONLine(s.Out, rows)
	}
	styled := ui.Styled(s.Out)
	if len(rows) == 0 {
		ui.Status(s.Out, styled, ui.Hint, "no saved gateways: fwd login --gateway HOST:PORT saves one")
		return nil
	}
	var table [][]string
	for _, r := range rows {
		mark, trust := "", "system CAs"
		if r.Current {
			mark = "*"
		}
		if r.Fingerprint != "" {
			trust = r.Fingerprint[:min(len(r.Fingerprint), 23)] + "…"
		} else if r.CA != "" {
			trust = "CA " + r.CA
		}
		table = append(table, []string{mark, r.Name, r.Gateway, trust, r.Project})
	}
	return ui.Table(s.Out, styled, []string{"", "name", "gateway", "trust", "project"}, table)
}

// logoutOptions are the flags of fwd logout.
type logoutOptions struct{ context string }

func newLogoutCmd(s streams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the current context's token (or --context NAME's); the context stays",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			st, cfg, err := loadContexts()
			if err != nil {
				return err
			}
			ctx, err := cfg.Resolve(envOr(g.context, "FWD_CONTEXT"))
			if err != nil {
				return err
			}
			if err := st.DeleteToken(ctx.Name); err != nil && !errors.Is(err, contexts.ErrNoToken) {
				return err
			}
			ui.Status(s.Out, ui.Styled(s.Out), ui.OK, fmt.Sprintf("logged out of %q (%s): fwd login saves a token again", ctx.Name, ctx.Gateway))
			return nil
		},
	}
}

// fromContext fills what flags and the environment left empty from the
// saved context (--context, FWD_CONTEXT, else the current one). A context
// lends its token and trust only to its own gateway. Without any saved
// context nothing changes.
func (o *forwardOptions) fromContext() error {
	name := envOr(o.global.context, "FWD_CONTEXT")
	st, cfg, err := loadContexts()
	if err != nil {
		return err
	}
	c, err := cfg.Resolve(name)
	switch {
	case name == "" && errors.Is(err, contexts.ErrNoCurrent):
		return nil
	case err != nil:
		return err
	}
	o.contextName = c.Name
	if o.project == "" {
		o.project = c.Project
	}
	if o.gateway != "" && o.gateway != c.Gateway {
		return nil
	}
	o.gateway = c.Gateway
	if o.fingerprint == "" && o.caFile == "" {
		o.fingerprint, o.caFile = c.Fingerprint, c.CA
	}
	if o.token == "" {
		tok, err := st.Token(c.Name)
		if err != nil && !errors.Is(err, contexts.ErrNoToken) {
			return err
		}
		o.token = tok
	}
	if o.token == "" && len(o.ssh.keyFiles) == 0 && c.SSHKey != "" {
		o.ssh.keyFiles = []string{c.SSHKey}
	}
	return nil
}

// loadContexts opens and reads this user's saved gateways.
func loadContexts() (*contexts.Store, *contexts.Config, error) {
	st, err := openContexts()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := st.Load()
	return st, cfg, err
}
