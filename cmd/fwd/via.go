package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/sshdial"
	"github.com/fwd-dev/fwd/internal/sshkeys"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// viaOptions are the flags that forward through an SSH server instead of a
// gateway: fwd all --via ssh://bastion --catalog shop.yaml.
type viaOptions struct {
	url         string // --via ssh://[user@]host[:port]
	catalogFile string // --catalog
	acceptNew   bool   // --accept-new
	spec        sshdial.Spec
}

func registerViaFlags(cmd *cobra.Command, v *viaOptions) {
	f := cmd.Flags()
	f.StringVar(&v.url, "via", "", "forward through this SSH server instead of a gateway: ssh://[user@]host[:port], a Host of ~/.ssh/config too (needs --catalog)")
	f.StringVar(&v.catalogFile, "catalog", "", "with --via: the YAML file of projects to forward, as gateway.yaml's projects:")
	f.BoolVar(&v.acceptNew, "accept-new", false, "with --via: trust and record the host key of a server not in ~/.ssh/known_hosts (ssh's StrictHostKeyChecking=accept-new); a changed key is still refused")
}

// checkVia checks the --via flags before the environment fills in the
// gateway's: what the user typed must not name a gateway and an SSH
// server at once.
func (o *forwardOptions) checkVia() error {
	v := &o.via
	switch {
	case v.url == "" && v.catalogFile != "":
		return usageErrorf("--catalog is for --via: add --via ssh://[user@]host, or leave --catalog out to use the gateway's catalog")
	case v.url == "" && v.acceptNew:
		return usageErrorf("--accept-new is for --via ssh://host: a gateway is trusted with --fingerprint or --ca")
	case v.url == "":
		return nil
	case o.gateway != "":
		return usageErrorf("--via and --gateway both set: forward through the SSH server or through the gateway, not both")
	case o.token != "" || o.caFile != "" || o.fingerprint != "":
		return usageErrorf("--token, --ca and --fingerprint are for a gateway: with --via the SSH server's host key is checked against ~/.ssh/known_hosts")
	case v.catalogFile == "":
		return usageErrorf("--via needs --catalog FILE: the projects to forward, a YAML file with projects: as in gateway.yaml")
	}
	spec, err := sshdial.ParseURL(v.url)
	if err != nil {
		return &usageError{fmt.Errorf("--via: %w", err)}
	}
	v.spec = spec
	return nil
}

// endpoint names what the client talks to, for the status line.
func (o *forwardOptions) endpoint() string {
	if o.via.url != "" {
		return o.via.url
	}
	return o.gateway
}

// viaClientOptions are the forward.Options of --via: the catalog file, and
// a dialer that reaches the server as ssh would. The keys are found once,
// before the first connection, and kept for reconnects, so that a
// passphrase is asked once.
func (o *forwardOptions) viaClientOptions(s streams, log *slog.Logger, onEvent func(forward.Event)) (forward.Options, error) {
	cat, err := config.LoadCatalog(o.via.catalogFile)
	if err != nil {
		return forward.Options{}, err
	}
	home, _ := os.UserHomeDir()
	cfg, err := sshdial.LoadConfig(home, sshdial.SystemConfig, localUser())
	if err != nil {
		return forward.Options{}, err
	}
	route, err := cfg.Route(o.via.spec)
	if err != nil {
		return forward.Options{}, &usageError{err}
	}
	signers, err := o.viaSigners(s, home, route)
	if err != nil {
		return forward.Options{}, err
	}
	d := &sshdial.Dialer{Route: route, Signers: signers, HostKeys: &sshdial.HostKeys{
		AcceptNew: o.via.acceptNew, Ask: askOnTerminal(s), OnAdded: reportAdded(log)}}
	return forward.Options{
		SSH:              &forward.SSHVia{Dial: d.Dial, Catalog: cat.Catalog, HostnameSuffixes: cat.HostnameSuffixes, Name: o.via.url},
		SkipHostnames:    o.skipHostnames,
		HostsFile:        o.hostsFile,
		HostnameSuffixes: o.suffixes,
		ConnectWait:      o.connectWait,
		Timeout:          o.timeout,
		Logger:           log,
		OnEvent:          onEvent,
	}, nil
}

// localUser is the login name ssh uses when neither the URL nor
// ssh_config gives one.
func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// viaSigners are the keys for each hop, in ssh's order: the hop's own
// IdentityFile keys, then ssh-agent's, --ssh-key's and ~/.ssh's usual ones
// (o.ssh, which Close releases).
func (o *forwardOptions) viaSigners(s streams, home string, route []sshdial.Hop) ([][]ssh.Signer, error) {
	common, noKey := o.ssh.find(s)
	if noKey != nil && !errors.Is(noKey, sshkeys.ErrNoKey) {
		return nil, noKey
	}
	loaded := map[string][]ssh.Signer{} // a key file shared by hops is read (and unlocked) once
	out := make([][]ssh.Signer, len(route))
	for i, hop := range route {
		var own []ssh.Signer
		for _, f := range o.identityFiles(home, hop) {
			if _, ok := loaded[f]; !ok {
				set, err := sshkeys.Find(sshkeys.Options{KeyFiles: []string{f}, Passphrase: passphrasePrompt(s)})
				if err != nil {
					return nil, err
				}
				loaded[f] = set.Signers
			}
			own = append(own, loaded[f]...)
		}
		out[i] = append(own, common...)
		if len(out[i]) == 0 {
			return nil, &viaNoKeyError{hop: hop.String(), err: noKey}
		}
	}
	return out, nil
}

// identityFiles are the hop's IdentityFile keys that exist and that o.ssh
// does not load already (--ssh-key, ~/.ssh's usual ones): ssh too skips
// those that do not exist.
func (o *forwardOptions) identityFiles(home string, hop sshdial.Hop) []string {
	var out []string
	for _, f := range hop.IdentityFiles {
		if slices.Contains(o.ssh.keyFiles, f) || isDefaultKey(home, f) {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

func isDefaultKey(home, f string) bool {
	for _, name := range sshkeys.DefaultKeyFiles {
		if home != "" && f == filepath.Join(home, ".ssh", name) {
			return true
		}
	}
	return false
}

// viaNoKeyError is a hop no key was found for.
type viaNoKeyError struct {
	hop string
	err error
}

func (e *viaNoKeyError) Error() string {
	return fmt.Sprintf("no SSH key to log in to %s with (%v): load one into ssh-agent, name it with IdentityFile in ~/.ssh/config, or pass --ssh-key FILE", e.hop, e.err)
}

// askOnTerminal puts ssh's host key question on the terminal standard input
// is, nil when it is not one: without a terminal an unknown host is
// refused.
func askOnTerminal(s streams) func(string) (string, error) {
	in, ok := s.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil
	}
	return func(question string) (string, error) {
		fmt.Fprint(s.Err, question)
		return bufio.NewReader(in).ReadString('\n')
	}
}

// reportAdded logs a host key written to known_hosts, as ssh's "Permanently
// added" warning.
func reportAdded(log *slog.Logger) func(name, file string, key ssh.PublicKey, err error) {
	return func(name, file string, key ssh.PublicKey, err error) {
		if err != nil {
			log.Warn("failed to add the host key to the list of known hosts: the next connection will ask again", "host", name, "file", file, "err", err)
			return
		}
		log.Warn(fmt.Sprintf("Permanently added '%s' (%s) to the list of known hosts.", name, sshdial.KeyType(key)),
			"file", file, "fingerprint", ssh.FingerprintSHA256(key))
	}
}

// hostKeyHint says what to do about a host key that was not trusted.
func hostKeyHint(e *sshdial.HostKeyError) string {
	switch e.Problem {
	case sshdial.KeyUnknown:
		return ": add it with ssh-keyscan, connect once with ssh, or pass --accept-new"
	case sshdial.KeyChanged:
		return fmt.Sprintf(" If the new key is right, remove the old one with ssh-keygen -R '%s' and connect again", e.Name)
	case sshdial.KeyDeclined:
		return ": check the fingerprint with the server's operator, then answer yes"
	}
	return ""
}
