package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/fwd-dev/fwd/tunnel"
)

// DefaultSSHHostKey is the gateway's SSH host key file, beside the config,
// when the config has ssh_listen but no ssh_host_key.
const DefaultSSHHostKey = "ssh_host_ed25519_key"

// file resolves a path the config names: relative to the config file's
// directory (Load), or to the working directory (Parse).
func (d *decoder) filePath(p string) string {
	if p == "" || filepath.IsAbs(p) || d.dir == "" {
		return p
	}
	return filepath.Join(d.dir, p)
}

func (d *decoder) user(n *yaml.Node, path string, u *tunnel.User) error {
	return d.mapping(n, "a user", path, "{name: alice, ssh_keys: [ssh-ed25519 AAAA...], projects: [shop]}", []field{
		{"name", func(v *yaml.Node, _ string) (err error) {
			u.Name, err = d.str(v, "the user's name")
			return err
		}},
		{"ssh_keys", func(v *yaml.Node, path string) error {
			return d.list(v, "ssh_keys", path, "[ssh-ed25519 AAAA... alice@laptop]", func(_ int, v *yaml.Node, _ string) error {
				line, err := d.str(v, "each of ssh_keys")
				if err != nil {
					return err
				}
				k, err := parseKeyLine(line)
				if err != nil {
					return d.errorf(v, err, "ssh_keys: %s", err.Error())
				}
				u.Keys = append(u.Keys, k)
				return nil
			})
		}},
		{"authorized_keys", func(v *yaml.Node, _ string) error {
			name, err := d.str(v, "authorized_keys")
			if err != nil {
				return err
			}
			keys, err := readKeyFile(d.filePath(name))
			if err != nil {
				return d.errorf(v, err, "authorized_keys %s", err.Error())
			}
			u.Keys = append(u.Keys, keys...)
			return nil
		}},
		{"projects", func(v *yaml.Node, path string) error {
			return d.stringList(v, "projects", path, `[shop] or ["*"]`, &u.Projects)
		}},
		{"expose", func(v *yaml.Node, _ string) (err error) {
			u.Expose, err = d.boolean(v, "expose")
			return err
		}},
	})
}

// sshUserCA decodes ssh_user_ca: a CA's public key line or a file of them
// (OpenSSH's TrustedUserCAKeys), or a list of either.
func (d *decoder) sshUserCA(at *yaml.Node, path string, out *[]ssh.PublicKey) error {
	n, err := d.resolve(at)
	if err != nil {
		return err
	}
	one := func(v *yaml.Node) error {
		s, err := d.str(v, "ssh_user_ca")
		if err != nil {
			return err
		}
		if looksLikeKeyLine(s) {
			k, err := parseKeyLine(s)
			if err != nil {
				return d.errorf(v, err, "ssh_user_ca: %s", err.Error())
			}
			*out = append(*out, k)
			return nil
		}
		keys, err := readKeyFile(d.filePath(s))
		if err != nil {
			return d.errorf(v, err, "ssh_user_ca %s", err.Error())
		}
		*out = append(*out, keys...)
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		return d.list(n, "ssh_user_ca", path, "[ca.pub]", func(_ int, v *yaml.Node, _ string) error { return one(v) })
	}
	return one(at)
}

// looksLikeKeyLine tells a key written inline from a file name.
func looksLikeKeyLine(s string) bool {
	typ, _, ok := strings.Cut(strings.TrimSpace(s), " ")
	return ok && (strings.HasPrefix(typ, "ssh-") || strings.HasPrefix(typ, "ecdsa-") || strings.HasPrefix(typ, "sk-"))
}

// parseKeyLine reads one authorized_keys line. Options (from=, command=,
// permitopen=...) are refused: fwd would not honour them, and a key that
// seems restricted but is not would be worse than an error.
func parseKeyLine(line string) (ssh.PublicKey, error) {
	k, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("%q is not a public key line like ssh-ed25519 AAAA... alice@laptop: %w", shorten(line), err)
	}
	if len(options) > 0 {
		return nil, fmt.Errorf("key options (%s) are not supported: remove them, and scope the user with projects:", strings.Join(options, ","))
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("one key per line: %q holds more", shorten(line))
	}
	if _, ok := k.(*ssh.Certificate); ok {
		return nil, fmt.Errorf("%q is a certificate: list the key itself, or trust its CA with ssh_user_ca", shorten(line))
	}
	return k, nil
}

// readKeyFile reads every key of an authorized_keys-style file; blank
// lines and # comments are skipped. A bad line is named by its number.
func readKeyFile(path string) ([]ssh.PublicKey, error) {
	data, err := readSmallFile(path)
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no keys: add public key lines (ssh-ed25519 AAAA...)", path)
	}
	return keys, nil
}

// maxKeyFile bounds a key file: thousands of keys, and no more, so that a
// config naming /dev/zero or a huge file cannot hang or swamp the gateway.
const maxKeyFile = 4 << 20

// readSmallFile reads a regular file of at most maxKeyFile bytes.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: check the path (relative paths are from the config's directory)", path, cause(err))
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: name a file of public key lines", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, cause(err))
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s is larger than %d MiB: it cannot be a file of public keys", path, maxKeyFile>>20)
	}
	return data, nil
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// users checks the users: unique names that can be certificate principals,
// projects that exist, and a way to log in (keys, or a CA).
func (k *checker) users(c *Config) {
	names := map[string]string{}
	keys := map[string]string{}
	for i, u := range c.Users {
		path := "users[" + strconv.Itoa(i) + "]"
		switch {
		case u.Name == "":
			k.errorf(path+".name", nil, "user has no name: add name: <their login, as in ssh alice@gateway>")
		case principalProblem(u.Name) != "":
			k.errorf(path+".name", nil, "user name %q %s", u.Name, principalProblem(u.Name))
		case names[u.Name] != "":
			k.errorf(path+".name", nil, "user name %q is used twice (first at %s): names must be unique", u.Name, k.where(names[u.Name]))
		default:
			names[u.Name] = path
		}
		if len(u.Keys) == 0 && len(c.SSHUserCAs) == 0 {
			k.errorf(path, nil, "user %q has no ssh_keys and no authorized_keys, and there is no ssh_user_ca to sign certificates for them: add their public key", u.Name)
		}
		for _, key := range u.Keys {
			blob := string(key.Marshal())
			if first, dup := keys[blob]; dup && first != path {
				k.errorf(path, nil, "user %q has the key %s that the user at %s has too: a key logs in as one user only", u.Name, ssh.FingerprintSHA256(key), k.where(first))
			}
			keys[blob] = path
		}
		k.projectRefs(path, "user", u.Name, u.Projects, &c.Catalog)
	}
}

// principalProblem says why name cannot be a login and a certificate
// principal, or "".
func principalProblem(name string) string {
	if len(name) > 64 {
		return "is longer than 64 characters: shorten it"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '@') {
			return fmt.Sprintf("has %q: use letters, digits, '.', '_', '-' and '@', as login names do", r)
		}
	}
	return ""
}
