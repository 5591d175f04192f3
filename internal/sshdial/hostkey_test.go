package sshdial

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testHop is a server at 127.0.0.1:2222 with known_hosts in a temp dir.
func testHop(t *testing.T, lines ...string) Hop {
	t.Helper()
	kh := filepath.Join(t.TempDir(), ".ssh", "known_hosts")
	if len(lines) > 0 {
		os.MkdirAll(filepath.Dir(kh), 0o700)
		if err := os.WriteFile(kh, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Hop{Alias: "bastion", Host: "127.0.0.1", Port: 2222, KnownHosts: []string{kh}, StrictHostKeyChecking: "ask"}
}

// check runs p's host key check of hop for key, as a handshake would.
func check(t *testing.T, p *HostKeys, hop Hop, key ssh.PublicKey) error {
	t.Helper()
	kh, err := readKnownHosts(hop)
	if err != nil {
		return err
	}
	return p.callback(hop, kh, func() {})(hop.Addr(), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}, key)
}

func problem(err error) HostKeyProblem {
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return hk.Problem
	}
	return 0
}

// TestHostKeyKnownChangedUnknown checks the three answers known_hosts
// gives, port-aware, hashed entries included, and their messages.
func TestHostKeyKnownChangedUnknown(t *testing.T) {
	key, other := newKey(t), newKey(t)
	p := &HostKeys{}
	if err := check(t, p, testHop(t, knownhosts.Line([]string{"[127.0.0.1]:2222"}, key)), key); err != nil {
		t.Errorf("known key: %v", err)
	}
	hashed := knownhosts.HashHostname("[127.0.0.1]:2222") + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if err := check(t, p, testHop(t, hashed), key); err != nil {
		t.Errorf("known key, hashed entry: %v", err)
	}
	if err := check(t, p, testHop(t, knownhosts.Line([]string{"127.0.0.1"}, key)), key); problem(err) != KeyUnknown {
		t.Errorf("a key for port 22 only must not do for 2222: %v", err)
	}

	hop := testHop(t, "# comment", knownhosts.Line([]string{"[127.0.0.1]:2222"}, other))
	err := check(t, &HostKeys{AcceptNew: true}, hop, key)
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Problem != KeyChanged || hk.File != hop.KnownHosts[0] || hk.Line != 2 {
		t.Fatalf("changed key, even with AcceptNew: %v", err)
	}
	for _, want := range []string{"WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!", "Host key for [127.0.0.1]:2222 has changed",
		"ED25519 key " + ssh.FingerprintSHA256(key), "offending key in " + hop.KnownHosts[0] + ":2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("changed-key message %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("message is not one line: %q", err)
	}

	err = check(t, p, testHop(t), key)
	if problem(err) != KeyUnknown || err.Error() != "Host key verification failed: no known_hosts entry for [127.0.0.1]:2222 (ED25519 key "+ssh.FingerprintSHA256(key)+")" {
		t.Errorf("unknown host without a terminal: %v", err)
	}
	rev := testHop(t, "@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))))
	if err := check(t, &HostKeys{AcceptNew: true}, rev, key); problem(err) != KeyRevoked {
		t.Errorf("revoked key: %v", err)
	}
	bad := testHop(t, "[127.0.0.1]:2222 ssh-ed25519 not-base64!")
	if err := check(t, p, bad, key); problem(err) != KeyUnreadable || !strings.Contains(err.Error(), "known_hosts:1") {
		t.Errorf("broken known_hosts: %v", err)
	}
}

// TestAcceptNew checks that an unknown host's key is appended, after a
// last line without its newline, hashed when HashKnownHosts says so, and
// known on the next connection.
func TestAcceptNew(t *testing.T) {
	key := newKey(t)
	for _, hash := range []bool{false, true} {
		hop := testHop(t, "other.example ssh-ed25519 "+strings.Fields(string(ssh.MarshalAuthorizedKey(newKey(t))))[1])
		hop.HashKnownHosts = hash
		// No newline at the end, as an editor may leave it.
		b, _ := os.ReadFile(hop.KnownHosts[0])
		os.WriteFile(hop.KnownHosts[0], []byte(strings.TrimSuffix(string(b), "\n")), 0o600)
		var added string
		p := &HostKeys{AcceptNew: true, OnAdded: func(name, file string, k ssh.PublicKey, err error) {
			if err != nil {
				t.Errorf("OnAdded: %v", err)
			}
			added = name + " " + file
		}}
		if err := check(t, p, hop, key); err != nil {
			t.Fatalf("hash %v: %v", hash, err)
		}
		if added != "[127.0.0.1]:2222 "+hop.KnownHosts[0] {
			t.Errorf("OnAdded got %q", added)
		}
		b, _ = os.ReadFile(hop.KnownHosts[0])
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) != 2 || strings.HasPrefix(lines[1], "|1|") != hash || hash == strings.Contains(lines[1], "127.0.0.1") {
			t.Errorf("hash %v: known_hosts is\n%s", hash, b)
		}
		if err := check(t, &HostKeys{}, hop, key); err != nil {
			t.Errorf("hash %v: not known after it was added: %v", hash, err)
		}
	}
	// The config's StrictHostKeyChecking accept-new does it too, and
	// a missing ~/.ssh is made.
	hop := testHop(t)
	hop.StrictHostKeyChecking = "accept-new"
	if err := check(t, &HostKeys{}, hop, key); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(hop.KnownHosts[0]); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts made: %v, %v", st, err)
	}
}

// TestAsk checks ssh's question and the answers it takes.
func TestAsk(t *testing.T) {
	key := newKey(t)
	for _, tc := range []struct {
		answers []string
		ok      bool
	}{
		{[]string{"yes"}, true},
		{[]string{"maybe", ssh.FingerprintSHA256(key)}, true},
		{[]string{"no"}, false},
	} {
		hop := testHop(t)
		var asked []string
		p := &HostKeys{Ask: func(q string) (string, error) {
			asked = append(asked, q)
			a := tc.answers[0]
			tc.answers = tc.answers[1:]
			return a, nil
		}}
		err := check(t, p, hop, key)
		if tc.ok != (err == nil) || !tc.ok && problem(err) != KeyDeclined {
			t.Errorf("answers %v: err %v", asked, err)
		}
		want := "The authenticity of host '[127.0.0.1]:2222 ([127.0.0.1]:2222)' can't be established.\nED25519 key fingerprint is " +
			ssh.FingerprintSHA256(key) + ".\nThis key is not known by any other names.\nAre you sure you want to continue connecting (yes/no/[fingerprint])? "
		if asked[0] != want {
			t.Errorf("question:\n%s\nwant:\n%s", asked[0], want)
		}
		if len(asked) > 1 && asked[1] != "Please type 'yes', 'no' or the fingerprint: " {
			t.Errorf("asked again with %q", asked[1])
		}
		if _, err := os.Stat(hop.KnownHosts[0]); tc.ok != (err == nil) {
			t.Errorf("answers %v: known_hosts written: %v", asked, err == nil)
		}
	}
	hop := testHop(t)
	hop.StrictHostKeyChecking = "yes"
	p := &HostKeys{Ask: func(string) (string, error) { t.Error("asked despite StrictHostKeyChecking yes"); return "yes", nil }}
	if err := check(t, p, hop, key); problem(err) != KeyUnknown {
		t.Errorf("StrictHostKeyChecking yes: %v", err)
	}
}

// TestAlgorithms checks that the known key's algorithm is offered first.
func TestAlgorithms(t *testing.T) {
	hop := testHop(t, knownhosts.Line([]string{"[127.0.0.1]:2222"}, newKey(t)))
	kh, err := readKnownHosts(hop)
	if err != nil {
		t.Fatal(err)
	}
	algos := kh.algorithms(hop.keyName())
	if len(algos) < 2 || algos[0] != ssh.KeyAlgoED25519 {
		t.Errorf("algorithms %v: want ssh-ed25519 first", algos)
	}
	for _, a := range algos {
		if strings.Contains(a, "-cert-") {
			t.Errorf("certificate algorithm %s offered without a @cert-authority", a)
		}
	}
}
