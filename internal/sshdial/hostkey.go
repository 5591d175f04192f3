package sshdial

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeys decides whether a server's host key is trusted, as ssh's
// StrictHostKeyChecking does, from the hop's known_hosts files: a key
// listed for the host is, a different key of the same type never is, and
// a host with no key of that type is asked about, accepted or refused.
type HostKeys struct {
	// AcceptNew trusts the key of a host that known_hosts has no key of
	// its type for, and records it, as StrictHostKeyChecking=accept-new;
	// it wins over the hop's own StrictHostKeyChecking.
	AcceptNew bool
	// Ask puts ssh's question about an unknown host's key to the user and
	// returns the line typed; nil when there is no terminal to ask on.
	Ask func(question string) (string, error)
	// OnAdded, if set, reports a key written to known_hosts, or that it
	// could not be (err): the connection goes on either way, as with ssh.
	OnAdded func(name, file string, key ssh.PublicKey, err error)
}

// HostKeyProblem is why a host key was not trusted.
type HostKeyProblem int

// The problems a host key can have.
const (
	KeyUnknown    HostKeyProblem = iota + 1 // no known_hosts entry of its type
	KeyChanged                              // known_hosts has another key of its type
	KeyRevoked                              // known_hosts marks it @revoked
	KeyDeclined                             // the user answered no
	KeyUnreadable                           // a known_hosts file could not be read
)

// HostKeyError is a host key that was not trusted. Its message is ssh's,
// on one line.
type HostKeyError struct {
	Problem HostKeyProblem
	// Name is the host as known_hosts names it: host, or [host]:port.
	Name string
	Key  ssh.PublicKey // what the server sent; nil for KeyUnreadable
	// File and Line are the offending entry (KeyChanged, KeyRevoked).
	File string
	Line int
	Err  error // from knownhosts or the prompt, if any
}

func (e *HostKeyError) Error() string {
	key := ""
	if e.Key != nil {
		key = KeyType(e.Key) + " key " + ssh.FingerprintSHA256(e.Key)
	}
	switch e.Problem {
	case KeyUnknown:
		return fmt.Sprintf("Host key verification failed: no known_hosts entry for %s (%s)", e.Name, key)
	case KeyChanged:
		return fmt.Sprintf("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY! "+
			"Someone could be eavesdropping on you right now (man-in-the-middle attack)! It is also possible that a host key has just been changed. "+
			"Host key for %s has changed: the server sent %s; offending key in %s:%d. Host key verification failed.", e.Name, key, e.File, e.Line)
	case KeyRevoked:
		return fmt.Sprintf("Host key verification failed: the %s of %s is marked as revoked in %s:%d", key, e.Name, e.File, e.Line)
	case KeyDeclined:
		return fmt.Sprintf("Host key verification failed: the %s of %s was not accepted", key, e.Name)
	}
	return fmt.Sprintf("Host key verification failed: reading known_hosts: %v", e.Err)
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// KeyType names a key's type as ssh does: ED25519, ECDSA, RSA, with -SK
// for a security key and -CERT for a certificate.
func KeyType(k ssh.PublicKey) string {
	t := k.Type()
	name := strings.ToUpper(strings.TrimPrefix(t, "ssh-"))
	switch {
	case strings.Contains(t, "ed25519"):
		name = "ED25519"
	case strings.Contains(t, "ecdsa"):
		name = "ECDSA"
	case strings.Contains(t, "rsa"):
		name = "RSA"
	case strings.Contains(t, "dss"):
		name = "DSA"
	}
	if strings.HasPrefix(t, "sk-") {
		name += "-SK"
	}
	if strings.Contains(t, "-cert-") {
		name += "-CERT"
	}
	return name
}

// knownHosts is a hop's known_hosts, read once per connection: a key that
// ssh (or another fwd) added meanwhile counts.
type knownHosts struct {
	db    ssh.HostKeyCallback
	files []string // those that exist, read
	cas   bool     // some line is @cert-authority
}

func readKnownHosts(hop Hop) (*knownHosts, error) {
	kh := &knownHosts{}
	for _, f := range append(slices.Clone(hop.KnownHosts), hop.GlobalKnownHosts...) {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, &HostKeyError{Problem: KeyUnreadable, Name: hop.Alias, Err: err}
		}
		kh.files = append(kh.files, f)
		kh.cas = kh.cas || hasCertAuthority(b)
	}
	db, err := knownhosts.New(kh.files...)
	if err != nil {
		return nil, &HostKeyError{Problem: KeyUnreadable, Name: hop.Alias, Err: fmt.Errorf("%w: fix or remove that line", err)}
	}
	kh.db = db
	return kh, nil
}

func hasCertAuthority(b []byte) bool {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if bytes.HasPrefix(bytes.TrimSpace(s.Bytes()), []byte("@cert-authority")) {
			return true
		}
	}
	return false
}

// probeKey is a key no known_hosts line holds: checking it lists the keys
// known for a host (knownhosts has no lookup of its own).
type probeKey struct{}

func (probeKey) Type() string    { return "fwd-probe" }
func (probeKey) Marshal() []byte { return []byte("fwd-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error {
	return errors.New("sshdial: a probe verifies nothing")
}

// known lists the keys known_hosts holds for name.
func (kh *knownHosts) known(name string) []knownhosts.KnownKey {
	var ke *knownhosts.KeyError
	if errors.As(kh.db(name, &net.TCPAddr{}, probeKey{}), &ke) {
		return ke.Want
	}
	return nil
}

// algorithms are the host key algorithms to offer for name: those of the
// keys known for it first, as ssh orders them, so that a server with
// several host keys shows one that can be checked. Certificate algorithms
// are offered only if known_hosts trusts some @cert-authority.
func (kh *knownHosts) algorithms(name string) []string {
	var out []string
	for _, k := range kh.known(name) {
		for _, a := range algorithmsOf(k.Key.Type()) {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		if !slices.Contains(out, a) && (kh.cas || !strings.Contains(a, "-cert-")) {
			out = append(out, a)
		}
	}
	return out
}

// algorithmsOf is the signature algorithms a key type signs host keys with.
func algorithmsOf(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// callback checks a hop's host key against kh; beforeAsk runs before the
// user is asked.
func (p *HostKeys) callback(hop Hop, kh *knownHosts, beforeAsk func()) ssh.HostKeyCallback {
	name := hop.keyName()
	shown := knownhosts.Normalize(name)
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		err := kh.db(name, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re):
			return &HostKeyError{Problem: KeyRevoked, Name: shown, Key: key, File: re.Revoked.Filename, Line: re.Revoked.Line, Err: err}
		case !errors.As(err, &ke):
			return &HostKeyError{Problem: KeyUnreadable, Name: shown, Key: key, Err: err}
		}
		for _, w := range ke.Want {
			if w.Key.Type() == key.Type() {
				return &HostKeyError{Problem: KeyChanged, Name: shown, Key: key, File: w.Filename, Line: w.Line, Err: err}
			}
		}
		return p.unknown(hop, shown, remote, key, ke, beforeAsk)
	}
}

// unknown decides about a key of a type known_hosts has none of for the
// host: accepted and recorded, asked about, or refused.
func (p *HostKeys) unknown(hop Hop, shown string, remote net.Addr, key ssh.PublicKey, ke *knownhosts.KeyError, beforeAsk func()) error {
	refused := &HostKeyError{Problem: KeyUnknown, Name: shown, Key: key, Err: ke}
	switch {
	case p.AcceptNew || hop.StrictHostKeyChecking == "accept-new" || hop.StrictHostKeyChecking == "no":
	case hop.StrictHostKeyChecking == "yes" || p.Ask == nil:
		return refused
	default:
		beforeAsk()
		if err := p.confirm(shown, remote, key, len(ke.Want) > 0); err != nil {
			return err
		}
	}
	p.record(hop, key)
	return nil
}

// maxAnswers bounds how often the question is put again.
const maxAnswers = 10

// confirm asks ssh's question until the answer is yes, no, or the key's
// fingerprint.
func (p *HostKeys) confirm(shown string, remote net.Addr, key ssh.PublicKey, otherTypes bool) error {
	fp := ssh.FingerprintSHA256(key)
	q := question(shown, remote, key, otherTypes)
	for range maxAnswers {
		ans, err := p.Ask(q)
		if err != nil {
			return &HostKeyError{Problem: KeyDeclined, Name: shown, Key: key, Err: err}
		}
		switch a := strings.TrimSpace(ans); {
		case strings.EqualFold(a, "yes") || a == fp:
			return nil
		case strings.EqualFold(a, "no"):
			return &HostKeyError{Problem: KeyDeclined, Name: shown, Key: key}
		}
		q = "Please type 'yes', 'no' or the fingerprint: "
	}
	return &HostKeyError{Problem: KeyDeclined, Name: shown, Key: key}
}

// question is ssh's, word for word.
func question(shown string, remote net.Addr, key ssh.PublicKey, otherTypes bool) string {
	host := shown
	if ip := addrIP(remote); ip != "" {
		host = fmt.Sprintf("%s (%s)", shown, knownhosts.Normalize(ip))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The authenticity of host '%s' can't be established.\n", host)
	fmt.Fprintf(&b, "%s key fingerprint is %s.\n", KeyType(key), ssh.FingerprintSHA256(key))
	if otherTypes {
		b.WriteString("but keys of different type are already known for this host.\n")
	} else {
		b.WriteString("This key is not known by any other names.\n")
	}
	b.WriteString("Are you sure you want to continue connecting (yes/no/[fingerprint])? ")
	return b.String()
}

// addrIP is remote as host:port when it is a real address (a hop reached
// through a jump host has none), else "".
func addrIP(remote net.Addr) string {
	tcp, ok := remote.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		return ""
	}
	return tcp.String()
}

// record appends key to the hop's first known_hosts file and reports it.
func (p *HostKeys) record(hop Hop, key ssh.PublicKey) {
	if len(hop.KnownHosts) == 0 {
		return // UserKnownHostsFile none: nowhere to keep it
	}
	name := knownhosts.Normalize(hop.keyName())
	entry := name
	if hop.HashKnownHosts {
		entry = knownhosts.HashHostname(name)
	}
	file := hop.KnownHosts[0]
	err := appendLine(file, knownhosts.Line([]string{entry}, key))
	if p.OnAdded != nil {
		p.OnAdded(name, file, key, err)
	}
}

// appendLine adds line to path as ssh does: no lock, one write to a file
// opened for appending, which the kernel puts at the end whole, so that
// two writers at once each add a line of their own. A last line without
// its newline gets one first.
func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sshdial: %w", err)
	}
	if !endsInNewline(path) {
		line = "\n" + line
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sshdial: %w", err)
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("sshdial: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sshdial: %w", err)
	}
	return nil
}

// endsInNewline reports whether path is missing, empty or ends in "\n".
func endsInNewline(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return true
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], st.Size()-1); err != nil {
		return true
	}
	return last[0] == '\n'
}
