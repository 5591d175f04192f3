package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fwd-dev/fwd/internal/contexts"
	"github.com/fwd-dev/fwd/internal/ui"
	"github.com/fwd-dev/fwd/tunnel"
)

// openContexts opens this user's saved gateways. FWD_NO_KEYRING=1 keeps
// tokens out of the OS keyring (in the 0600 credentials file beside the
// config), for machines whose keyring prompts or is not wanted.
func openContexts() (*contexts.Store, error) {
	return contexts.Open(contexts.Options{NoKeyring: os.Getenv("FWD_NO_KEYRING") == "1"})
}

// loginOptions are the flags of fwd login.
type loginOptions struct {
	gateway, name, fingerprint, caFile, project string
	useSSH                                      bool     // log in with SSH keys, save no token
	ssh                                         sshLogin // --ssh-key
	output                                      outputFlag
}

func newLoginCmd(s streams) *cobra.Command {
	opts := &loginOptions{}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Save a gateway, its trust and a token as a context, so that commands need no flags",
		Long: `Connects to the gateway, checks its certificate and the token, and saves
them as a context (the first one saved becomes current). The token is read
from standard input, or asked for on a terminal: never from the command
line, where ps would show it. It is kept in the system keyring where there
is one, else in a 0600 file beside the config; fwd says which.

An unknown certificate is shown and asked about on a terminal; without one,
pass --fingerprint or --ca.`,
		Example: "  fwd login --gateway gw.example.com:7443\n  echo \"$TOKEN\" | fwd login --gateway gw:7443 --fingerprint sha256:9c1e... --name prod --project shop\n  fwd login --gateway gw:7443 --ssh",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			return runLogin(cmd.Context(), opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.gateway, "gateway", "g", "", "gateway address host:port, or several as a,b to fail over between (required)")
	f.StringVar(&opts.name, "name", "", "the context's name (default: the gateway's host)")
	f.StringVar(&opts.fingerprint, "fingerprint", "", "trust the gateway by its certificate fingerprint sha256:HEX")
	f.StringVar(&opts.caFile, "ca", "", "trust the gateway through this CA certificate file")
	f.StringVarP(&opts.project, "project", "p", "", "the context's default project")
	f.BoolVar(&opts.useSSH, "ssh", false, "log in with an SSH key (ssh-agent, --ssh-key, ~/.ssh/id_*) and save no token: later commands sign with it")
	f.StringSliceVar(&opts.ssh.keyFiles, "ssh-key", nil, "with --ssh, the SSH key file to try after ssh-agent's keys (the first is saved in the context)")
	opts.output.register(cmd)
	return cmd
}

func (o *loginOptions) validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	switch {
	case o.gateway == "":
		return usageErrorf("no gateway: pass --gateway host:port")
	case o.fingerprint != "" && o.caFile != "":
		return usageErrorf("--ca and --fingerprint both set: choose one way to trust the gateway")
	case len(o.ssh.keyFiles) > 0 && !o.useSSH:
		return usageErrorf("--ssh-key without --ssh: add --ssh to log in with SSH keys instead of a token")
	}
	if err := checkGateways(o.gateway); err != nil {
		return err
	}
	if o.fingerprint != "" {
		if _, err := tunnel.ParseFingerprint(o.fingerprint); err != nil {
			return &usageError{err}
		}
	}
	if o.name == "" {
		first, _, _ := strings.Cut(o.gateway, ",")
		host, _, _ := net.SplitHostPort(strings.TrimSpace(first))
		o.name = strings.Trim(strings.Map(contextRune, host), "-.")
	}
	return nil
}

// contextRune keeps what a context name may hold.
func contextRune(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
		return r
	}
	return '-'
}

func runLogin(ctx context.Context, o *loginOptions, s streams) error {
	if o.useSSH {
		return runSSHLogin(ctx, o, s)
	}
	token, err := readToken(s, o.gateway)
	if err != nil {
		return err
	}
	trust, saved, err := o.trust(ctx, s)
	if err != nil {
		return err
	}
	projects, err := loginProjects(ctx, o.gateway, &tunnel.ClientConfig{Token: token, Trust: trust})
	if err != nil {
		return err
	}
	store, err := openContexts()
	if err != nil {
		return err
	}
	where, err := store.Login(saved, token)
	if err != nil {
		return err
	}
	return loginDone(s, o, saved, where, projects)
}

// runSSHLogin checks that an SSH key logs in and saves the context with
// no token.
func runSSHLogin(ctx context.Context, o *loginOptions, s streams) error {
	defer o.ssh.Close()
	signers, err := o.ssh.find(s)
	if err != nil {
		return err
	}
	trust, saved, err := o.trust(ctx, s)
	if err != nil {
		return err
	}
	if len(o.ssh.keyFiles) > 0 {
		if saved.SSHKey, err = filepath.Abs(o.ssh.keyFiles[0]); err != nil {
			return err
		}
	}
	projects, err := loginProjects(ctx, o.gateway, &tunnel.ClientConfig{SSHSigners: signers, Trust: trust})
	if err != nil {
		return err
	}
	store, err := openContexts()
	if err != nil {
		return err
	}
	if err := store.LoginWithoutToken(saved); err != nil {
		return err
	}
	return loginDone(s, o, saved, "", projects)
}

// loginProjects logs in once and returns the projects the login sees.
func loginProjects(ctx context.Context, gateway string, cfg *tunnel.ClientConfig) ([]string, error) {
	sess, err := tunnel.Dial(ctx, gateway, cfg)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	cat := sess.Catalog()
	return cat.ProjectNames(), nil
}

// loginDone says what was saved: where the token went, or (where "") that
// the context logs in with SSH keys.
func loginDone(s streams, o *loginOptions, saved contexts.Context, where string, projects []string) error {
	if o.output.json() {
		out := map[string]any{"context": saved.Name, "gateway": saved.Gateway, "auth": "token", "token": where, "projects": projects}
		if where == "" {
			out["auth"] = "ssh"
			delete(out, "token")
		}
		return writeJSONLine(s.Out, out)
	}
	styled := ui.Styled(s.Out)
	saying := "the token is in " + where
	if where == "" {
		saying = "it logs in with your SSH keys; no token is saved"
	}
	ui.Status(s.Out, styled, ui.OK, fmt.Sprintf("logged in to %s as context %q; %s", saved.Gateway, saved.Name, saying))
	ui.Status(s.Out, styled, ui.Hint, "projects: "+strings.Join(projects, ", ")+"; try: fwd ls")
	return nil
}

// readToken reads the token from standard input, or asks for it without
// echo on a terminal.
func readToken(s streams, gateway string) (string, error) {
	if f, ok := s.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(s.Err, "token for %s: ", gateway)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.Err)
		if err != nil {
			return "", fmt.Errorf("reading the token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	b, err := io.ReadAll(io.LimitReader(s.In, 64<<10))
	if err != nil {
		return "", fmt.Errorf("reading the token from standard input: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", usageErrorf("no token on standard input: pipe it in (echo \"$TOKEN\" | fwd login ...), or run fwd login on a terminal")
	}
	return token, nil
}

// trust decides how the gateway is trusted, asking on a terminal about a
// certificate nothing vouches for, and returns it with the context to save.
func (o *loginOptions) trust(ctx context.Context, s streams) (tunnel.Trust, contexts.Context, error) {
	saved := contexts.Context{Name: o.name, Gateway: o.gateway, Fingerprint: o.fingerprint, Project: o.project}
	switch {
	case o.fingerprint != "":
		return tunnel.Trust{Fingerprint: o.fingerprint}, saved, nil
	case o.caFile != "":
		pool, err := tunnel.LoadCAFile(o.caFile)
		if err != nil {
			return tunnel.Trust{}, saved, &usageError{err}
		}
		saved.CA, err = filepath.Abs(o.caFile)
		return tunnel.Trust{CAs: pool}, saved, err
	}
	fp, err := unverifiedFingerprint(ctx, o.gateway)
	if err != nil || fp == "" {
		return tunnel.Trust{}, saved, err // the system's roots trust it, or the dial error says why
	}
	if !askTrust(s, o.gateway, fp) {
		return tunnel.Trust{}, saved, &tunnel.UntrustedError{Fingerprint: fp, Reason: errors.New("not trusted on first use: no terminal to ask on, or the answer was no")}
	}
	saved.Fingerprint = fp
	return tunnel.Trust{Fingerprint: fp}, saved, nil
}

// unverifiedFingerprint is the gateway's certificate fingerprint when the
// system's roots do not vouch for it, "" when they do. It only shakes
// hands: no login is tried, so the gateway counts no failure.
func unverifiedFingerprint(ctx context.Context, gateway string) (string, error) {
	fp, err := tunnel.ProbeTrust(ctx, gateway, tunnel.Trust{})
	var untrusted *tunnel.UntrustedError
	switch {
	case errors.As(err, &untrusted):
		return fp, nil
	case err != nil:
		return "", err
	}
	return "", nil
}

// askTrust asks on a terminal whether to trust fp; without a terminal the
// answer is no, as an unattended login must not trust anything unseen.
func askTrust(s streams, gateway, fp string) bool {
	in, ok := s.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return false
	}
	fmt.Fprintf(s.Err, "The certificate of %s is not signed by a CA this machine trusts.\nIts fingerprint is %s\nCheck it with the gateway's operator (fwd gateway prints it). Trust it? [y/N] ", gateway, fp)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(answer), "y") || strings.EqualFold(strings.TrimSpace(answer), "yes")
}
