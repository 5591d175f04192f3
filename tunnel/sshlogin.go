package tunnel

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSH-key login, on the control stream, instead of a token (see doc.go):
//
//	client  {"type":"hello","version":1,"ssh_keys":[KEY...]}
//	gateway {"type":"challenge","nonce":N,"ssh_key_index":I}
//	client  {"type":"ssh_signature","signature":SIG}
//	gateway {"type":"welcome",...} or {"type":"error","code":"ssh_refused",...}
const (
	msgChallenge    = "challenge"
	msgSSHSignature = "ssh_signature"
	codeSSHRefused  = "ssh_refused"

	// maxOfferedKeys bounds the keys one hello may offer, as OpenSSH's
	// MaxAuthTries bounds the keys one connection may try.
	maxOfferedKeys = 16
	nonceSize      = 32

	// signedPrefix starts the data a client signs, so that a signature made
	// for a fwd login can never pass for one made for anything else.
	signedPrefix = "fwd ssh login v1\x00"
	// exporterLabel names the TLS keying material the signature covers
	// (RFC 8446 section 7.5): it is unique to one TLS session.
	exporterLabel = "EXPORTER-fwd-ssh-login"
)

// principal is who a session logged in as: a token or an SSH user. Its
// projects scope what the session sees and forwards.
type principal struct {
	auth     string // "token", "ssh-key" or "ssh-cert"
	name     string
	projects []string
	expose   bool // may publish local ports (fwd expose)

	// What logged in, for checking it again when the config is reloaded:
	// the token's SHA-256, or the SSH key (a certificate included).
	tokenSum [32]byte
	key      ssh.PublicKey
}

// Allows reports whether the principal may see and forward the project.
func (p principal) Allows(project string) bool { return allows(p.projects, project) }

func (p principal) logAttrs() []any {
	if p.auth == "token" {
		return []any{"token", p.name}
	}
	return []any{"user", p.name, "auth", p.auth}
}

// sessionBinding is what ties a login signature to one TLS session and one
// gateway: the session's exported keying material and the SHA-256 of the
// gateway's certificate. A signature made on another session (replayed)
// or for another gateway (relayed) does not verify.
func sessionBinding(cs tls.ConnectionState, gatewayCert []byte) ([]byte, error) {
	ekm, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32)
	if err != nil {
		return nil, fmt.Errorf("tunnel: TLS keying material: %w", err)
	}
	sum := sha256.Sum256(gatewayCert)
	return append(ekm, sum[:]...), nil
}

// signedData is what the client signs: the prefix, the gateway's nonce and
// the session binding.
func signedData(nonce, binding []byte) []byte {
	b := make([]byte, 0, len(signedPrefix)+len(nonce)+len(binding))
	b = append(b, signedPrefix...)
	b = append(b, nonce...)
	return append(b, binding...)
}

// authenticate checks a hello's credentials: its token, or its SSH keys by
// a signed challenge. The refusal is kept on s (refuseLogin), to be sent
// once the failure is counted; the error is for the gateway's log and never
// holds a token.
func (g *Gateway) authenticate(s *session, hello *controlMsg, br *bufio.Reader, binding func() ([]byte, error)) (principal, error) {
	if hello.Token == "" && len(hello.SSHKeys) > 0 {
		return g.authenticateSSH(s, hello.SSHKeys, br, binding)
	}
	tok, err := g.config().Authenticate(hello.Token)
	if err != nil {
		s.refuseLogin(codeUnauthorized, "the gateway does not know this token; check --token or FWD_TOKEN")
		return principal{}, err // the token itself is never logged
	}
	return principal{auth: "token", name: tok.Name, projects: tok.Projects, expose: tok.Expose, tokenSum: tok.SHA256}, nil
}

// authenticateSSH picks the first offered key that logs in as a user,
// challenges the client to sign with it and checks the signature.
func (g *Gateway) authenticateSSH(s *session, offered []string, br *bufio.Reader, binding func() ([]byte, error)) (principal, error) {
	if len(offered) > maxOfferedKeys {
		s.refuseLogin(codeSSHRefused, fmt.Sprintf("too many SSH keys offered (%d): offer at most %d, with --ssh-key or fewer keys in ssh-agent", len(offered), maxOfferedKeys))
		return principal{}, fmt.Errorf("%d SSH keys offered", len(offered))
	}
	index, key, user, err := g.pickKey(offered)
	if err != nil {
		s.refuseLogin(codeSSHRefused, err.Error())
		return principal{}, err
	}
	bind, err := binding()
	if err != nil {
		s.refuseLogin(codeSSHRefused, "the gateway could not bind the login to this TLS session")
		return principal{}, err
	}
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	if err := writeControl(s.control, &controlMsg{Type: msgChallenge, Nonce: nonce, SSHKeyIndex: &index}); err != nil {
		return principal{}, fmt.Errorf("send challenge: %w", err)
	}
	reply, err := readControl(br)
	if err != nil {
		return principal{}, fmt.Errorf("read signature: %w", err)
	}
	if reply.Type != msgSSHSignature {
		s.refuseLogin(codeSSHRefused, fmt.Sprintf("expected the signed challenge, got a %q message", reply.Type))
		return principal{}, fmt.Errorf("%q message instead of a signature", reply.Type)
	}
	if err := verifyLogin(key, signedData(nonce, bind), reply.Signature); err != nil {
		s.refuseLogin(codeSSHRefused, err.Error())
		return principal{}, err
	}
	auth := "ssh-key"
	if _, ok := key.(*ssh.Certificate); ok {
		auth = "ssh-cert"
	}
	return principal{auth: auth, name: user.Name, projects: user.Projects, expose: user.Expose, key: key}, nil
}

// pickKey returns the first offered key that logs in as a user. When none
// does, the error gives each key's reason, as the client needs them to
// know what to fix.
func (g *Gateway) pickKey(offered []string) (int, ssh.PublicKey, *User, error) {
	var reasons []string
	now := time.Now()
	for i, wire := range offered {
		key, err := parseWireKey(wire)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("key %d: %v", i+1, err))
			continue
		}
		user, err := g.config().AuthorizeSSH(key, now)
		if err == nil {
			return i, key, user, nil
		}
		reasons = append(reasons, err.Error())
	}
	return 0, nil, nil, errors.New(strings.Join(reasons, "; "))
}

// parseWireKey reads a key as a hello carries it: the public key in the
// SSH wire format, base64 as in authorized_keys.
func parseWireKey(wire string) (ssh.PublicKey, error) {
	blob, err := base64.StdEncoding.DecodeString(wire)
	if err != nil {
		return nil, fmt.Errorf("not an SSH public key: %w", err)
	}
	k, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, fmt.Errorf("not an SSH public key: %w", err)
	}
	return k, nil
}

// verifyLogin checks sig over data with key. SHA-1 RSA signatures
// ("ssh-rsa") are refused, as OpenSSH 8.8 and later refuse them.
func verifyLogin(key ssh.PublicKey, data, blob []byte) error {
	var sig ssh.Signature
	if err := ssh.Unmarshal(blob, &sig); err != nil {
		return fmt.Errorf("signature is not an SSH signature: %w", err)
	}
	if sig.Format == ssh.KeyAlgoRSA {
		return errors.New("signature uses SHA-1 (ssh-rsa), which the gateway refuses: use an ed25519 or ECDSA key, or a newer ssh-agent")
	}
	if err := key.Verify(data, &sig); err != nil {
		return fmt.Errorf("signature does not verify for %s %s: it was not made for this session", key.Type(), ssh.FingerprintSHA256(key))
	}
	return nil
}

// wireKey is a public key as a hello offers it.
func wireKey(k ssh.PublicKey) string {
	line := string(ssh.MarshalAuthorizedKey(k))
	_, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	return rest
}

// loginSSH is the client's side: offer the signers' public keys, sign the
// challenge for the key the gateway picked.
func loginSSH(control net.Conn, br *bufio.Reader, signers []ssh.Signer, binding []byte) (*controlMsg, error) {
	keys := make([]string, len(signers))
	for i, s := range signers {
		keys[i] = wireKey(s.PublicKey())
	}
	if err := writeControl(control, &controlMsg{Type: msgHello, Version: Version, SSHKeys: keys, Features: clientFeatures}); err != nil {
		return nil, fmt.Errorf("send login: %w", err)
	}
	reply, err := readGatewayControl(br)
	if err != nil {
		return nil, fmt.Errorf("read login reply: %w", err)
	}
	if reply.Type == msgError && reply.Code == codeUnauthorized {
		// A gateway of the previous version reads the hello as one without
		// a token.
		return nil, &LoginError{Code: codeSSHRefused, Message: "the gateway does not take SSH keys (it is an older fwd gateway): log in with a token (--token or fwd login)"}
	}
	if reply.Type != msgChallenge {
		return reply, nil
	}
	i := 0
	if reply.SSHKeyIndex != nil {
		i = *reply.SSHKeyIndex
	}
	if i < 0 || i >= len(signers) || len(reply.Nonce) != nonceSize {
		return nil, &LoginError{Code: "unexpected", Message: "the gateway sent a malformed challenge"}
	}
	sig, err := signLogin(signers[i], signedData(reply.Nonce, binding))
	if err != nil {
		return nil, &LoginError{Code: codeSSHRefused, Message: fmt.Sprintf("signing with %s %s: %v", signers[i].PublicKey().Type(), ssh.FingerprintSHA256(signers[i].PublicKey()), err)}
	}
	if err := writeControl(control, &controlMsg{Type: msgSSHSignature, Signature: ssh.Marshal(sig)}); err != nil {
		return nil, fmt.Errorf("send signature: %w", err)
	}
	reply, err = readGatewayControl(br)
	if err != nil {
		return nil, fmt.Errorf("read login reply: %w", err)
	}
	return reply, nil
}

// signLogin signs with SHA-256 or better: RSA keys (and certificates of
// RSA keys) sign with rsa-sha2-256, as the gateway refuses SHA-1.
func signLogin(s ssh.Signer, data []byte) (*ssh.Signature, error) {
	if isRSA(s.PublicKey()) {
		as, ok := s.(ssh.AlgorithmSigner)
		if !ok {
			return nil, errors.New("this RSA key cannot sign with SHA-256")
		}
		return as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA256)
	}
	return s.Sign(rand.Reader, data)
}

func isRSA(k ssh.PublicKey) bool {
	if c, ok := k.(*ssh.Certificate); ok {
		k = c.Key
	}
	return k.Type() == ssh.KeyAlgoRSA
}
