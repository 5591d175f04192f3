package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// newKeyLine returns a fresh ed25519 public key as an authorized_keys line.
func newKeyLine(t *testing.T, comment string) (string, ssh.PublicKey) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + comment, k
}

// TestLoadSSHUsers loads users with inline keys and an authorized_keys
// file, a CA from a file, and ssh_listen with the host key put beside the
// config.
func TestLoadSSHUsers(t *testing.T) {
	dir := t.TempDir()
	aliceLine, alice := newKeyLine(t, "alice@laptop")
	bobLine, bob := newKeyLine(t, "bob@desk")
	caLine, ca := newKeyLine(t, "ca")
	mustDo(t, os.WriteFile(filepath.Join(dir, "bob.keys"), []byte("# bob's keys\n\n"+bobLine+"\n"), 0o644))
	mustDo(t, os.WriteFile(filepath.Join(dir, "user_ca.pub"), []byte(caLine+"\n"), 0o644))
	yaml := "ssh_listen: 127.0.0.1:2222\nssh_user_ca: user_ca.pub\nusers:\n" +
		"  - name: alice\n    ssh_keys: [\"" + aliceLine + "\"]\n    projects: [shop]\n" +
		"  - name: bob\n    authorized_keys: bob.keys\n    projects: [\"*\"]\n" +
		"  - name: carol\n    projects: [shop]\n" + shop + port
	path := filepath.Join(dir, "gateway.yaml")
	mustDo(t, os.WriteFile(path, []byte(yaml), 0o644))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Users) != 3 || c.Users[0].Name != "alice" || c.Users[1].Name != "bob" || c.Users[2].Name != "carol" {
		t.Fatalf("users = %+v", c.Users)
	}
	if len(c.Users[0].Keys) != 1 || string(c.Users[0].Keys[0].Marshal()) != string(alice.Marshal()) {
		t.Errorf("alice's keys = %v", c.Users[0].Keys)
	}
	if len(c.Users[1].Keys) != 1 || string(c.Users[1].Keys[0].Marshal()) != string(bob.Marshal()) {
		t.Errorf("bob's keys (from bob.keys) = %v", c.Users[1].Keys)
	}
	if len(c.SSHUserCAs) != 1 || string(c.SSHUserCAs[0].Marshal()) != string(ca.Marshal()) {
		t.Errorf("ssh_user_ca = %v", c.SSHUserCAs)
	}
	if c.SSHListen != "127.0.0.1:2222" || c.SSHHostKey != filepath.Join(dir, DefaultSSHHostKey) {
		t.Errorf("ssh_listen %q, host key %q", c.SSHListen, c.SSHHostKey)
	}
	if len(c.Tokens) != 0 {
		t.Errorf("tokens = %v, want none: users alone may log in", c.Tokens)
	}
}

// TestParseSSHBad checks each mistake in the SSH keys is one line naming
// the place and what to do.
func TestParseSSHBad(t *testing.T) {
	dir := t.TempDir()
	line, _ := newKeyLine(t, "a")
	other, _ := newKeyLine(t, "b")
	empty := filepath.Join(dir, "empty.keys")
	mustDo(t, os.WriteFile(empty, []byte("# nothing\n"), 0o644))
	broken := filepath.Join(dir, "broken.keys")
	mustDo(t, os.WriteFile(broken, []byte(other+"\nssh-ed25519 not-base64\n"), 0o644))
	user := func(body string) string {
		return "users:\n  - name: alice\n" + body + "    projects: [shop]\n" + shop + port
	}
	keys := func(lines ...string) string { return "    ssh_keys: [\"" + strings.Join(lines, "\", \"") + "\"]\n" }
	cases := []badCase{
		{"key not a key", user(keys("hello world")), 3, `ssh_keys: "hello world" is not a public key line`},
		{"key with options", user("    ssh_keys: ['from=\"10.0.0.1\" " + line + "']\n"), 3, "key options (from=\"10.0.0.1\") are not supported"},
		{"authorized_keys missing", user("    authorized_keys: " + filepath.Join(dir, "nope") + "\n"), 3, "no such file or directory: check the path"},
		{"authorized_keys empty", user("    authorized_keys: " + empty + "\n"), 3, "holds no keys"},
		{"authorized_keys a device", user("    authorized_keys: /dev/zero\n"), 3, "/dev/zero is not a regular file"},
		{"authorized_keys a directory", user("    authorized_keys: " + dir + "\n"), 3, "is not a regular file"},
		{"authorized_keys bad line", user("    authorized_keys: " + broken + "\n"), 3, "broken.keys line 2:"},
		{"user without keys", user(""), 2, `user "alice" has no ssh_keys and no authorized_keys, and there is no ssh_user_ca`},
		{"user unknown project", "users:\n  - name: alice\n" + keys(line) + "    projects: [shpo]\n" + shop + port, 4, `user "alice" names unknown project "shpo"`},
		{"user without projects", "users:\n  - name: alice\n" + keys(line) + shop + port, 2, `user "alice" has no projects`},
		{"user name twice", "users:\n  - {name: alice, ssh_keys: [\"" + line + "\"], projects: [shop]}\n  - {name: alice, ssh_keys: [\"" + other + "\"], projects: [shop]}\n" + shop + port, 3, `user name "alice" is used twice (first at line 2)`},
		{"user name with space", "users:\n  - {name: al ice, ssh_keys: [\"" + line + "\"], projects: [shop]}\n" + shop + port, 2, `user name "al ice" has ' '`},
		{"key in two users", "users:\n  - {name: alice, ssh_keys: [\"" + line + "\"], projects: [shop]}\n  - {name: bob, ssh_keys: [\"" + line + "\"], projects: [shop]}\n" + shop + port, 3, "a key logs in as one user only"},
		{"ca not a key", user(keys(line)) + "ssh_user_ca: \"ssh-ed25519 AAAA!\"\n", 11, "ssh_user_ca:"},
		{"ca file missing", user(keys(line)) + "ssh_user_ca: " + filepath.Join(dir, "ca.pub") + "\n", 11, "ssh_user_ca " + filepath.Join(dir, "ca.pub")},
		{"ssh_listen not host:port", good + "ssh_listen: 2222\n", 11, `ssh_listen "2222" is not host:port: use e.g. 127.0.0.1:2222`},
		{"ssh_listen empty", good + "ssh_listen:\n", 11, "ssh_listen is empty"},
		{"ssh_listen port 0 beside listen port 0 is fine, then bad CA", good + "listen: 127.0.0.1:0\nssh_listen: 127.0.0.1:0\nssh_user_ca: nope\n", 13, "ssh_user_ca"},
		{"ssh_listen same as listen", good + "listen: 127.0.0.1:7443\nssh_listen: 127.0.0.1:7443\n", 12, "is the same address as listen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s\ngot %+v", tc.yaml, c)
			}
			msg := err.Error()
			prefix := "bad.yaml:" + strconv.Itoa(tc.line) + ":"
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.phrase) {
				t.Errorf("error:\n  %s\nwant prefix %q and phrase %q", msg, prefix, tc.phrase)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}
