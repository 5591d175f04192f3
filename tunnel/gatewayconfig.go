package tunnel

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fwd-dev/fwd/tunnel/catalog"
	"golang.org/x/crypto/ssh"
)

// GatewayConfig is what a Gateway serves: who may log in, what they may
// reach, and the limits that keep it up. Package tunnel/config loads one
// from a gateway.yaml file; a program may also build one in code (start
// from DefaultLimits). A Gateway does not modify it, and it must not be
// modified while the Gateway serves.
type GatewayConfig struct {
	// Tokens are the tokens the gateway accepts.
	Tokens []Token
	// Users log in with SSH keys or SSH certificates instead of tokens.
	Users []User
	// SSHUserCAs sign SSH user certificates: one of theirs, valid now,
	// logs in as the users its principals name (see AuthorizeSSH).
	SSHUserCAs []ssh.PublicKey
	// Catalog is what the gateway forwards to. Every resource has its Kind
	// and Project set.
	Catalog catalog.Catalog
	// HostnameSuffixes are the DNS suffixes the catalog's hostnames end in,
	// lower case and without a leading dot. They are sent to clients, which
	// write a catalog hostname only under one of them: a gateway cannot make
	// its clients' hosts files claim names outside the domains it serves.
	HostnameSuffixes []string
	// Limits bound the gateway's resources; zero fields get the defaults.
	Limits Limits
	// Secrets are where the values of the secrets that resources' env
	// templates use come from, by name. A gateway sends a secret's value
	// only in the catalog of a token that may see the resource's project,
	// and never logs it.
	Secrets map[string]SecretSource
	// Expose, if set, lets logins with the expose permission publish their
	// local ports through the gateway (fwd expose); nil refuses every
	// exposure with a message that says the gateway does not expose.
	Expose *ExposeConfig
}

// SecretSource says where one secret's value comes from: a variable of the
// gateway's environment, or a file (read each time a client logs in, so a
// rotated file takes effect without a restart). Exactly one is set.
type SecretSource struct {
	Env  string
	File string
}

// Value reads the secret; a file's final newline is not part of it.
func (s SecretSource) Value() (string, error) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("tunnel: the gateway's environment has no %s", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("tunnel: %w", err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
	return "", errors.New("tunnel: a secret needs env or file")
}

// Token is one accepted token. Only its SHA-256 is known.
type Token struct {
	// Name identifies the token in logs.
	Name string
	// SHA256 is the SHA-256 of the token's text.
	SHA256 [32]byte
	// Projects are the projects the token may see and forward; "*" is all.
	Projects []string
	// Expose lets the token publish local ports (fwd expose); without it
	// the token only forwards.
	Expose bool
}

// Limits bound the gateway's resources.
type Limits struct {
	// MaxSessions is the number of client sessions served at once.
	MaxSessions int
	// MaxStreamsPerSession is the number of streams (forwarded connections
	// and UDP flows) one session may have open at once. A stream counts
	// until the client closes its side.
	MaxStreamsPerSession int
	// DialTimeout bounds connecting to a target.
	DialTimeout time.Duration
	// IdleTimeout closes a stream with no traffic for that long; 0 never does.
	IdleTimeout time.Duration
	// UDPFlowIdle forgets a UDP flow with no traffic for that long.
	UDPFlowIdle time.Duration
	// ShutdownGrace is how long a stopping gateway waits for open streams.
	ShutdownGrace time.Duration
	// MaxHandshakes is the number of connections that may be in the TLS
	// handshake or login at once, so that clients that connect and then
	// stall cannot hold the gateway's descriptors and memory.
	MaxHandshakes int
	// MaxHandshakesPerSource is MaxHandshakes for one client IP address, so
	// that one source cannot take all of them.
	MaxHandshakesPerSource int
}

// DefaultLimits returns the limits a gateway uses where none are given.
func DefaultLimits() Limits {
	return Limits{
		MaxSessions:            1024,
		MaxStreamsPerSession:   4096,
		DialTimeout:            5 * time.Second,
		IdleTimeout:            0,
		UDPFlowIdle:            60 * time.Second,
		ShutdownGrace:          10 * time.Second,
		MaxHandshakes:          512,
		MaxHandshakesPerSource: 32,
	}
}

// withDefaults fills the zero fields that have a default (IdleTimeout's
// zero means never and stays).
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxSessions, d.MaxSessions)
	set(&l.MaxStreamsPerSession, d.MaxStreamsPerSession)
	set(&l.MaxHandshakes, d.MaxHandshakes)
	set(&l.MaxHandshakesPerSource, d.MaxHandshakesPerSource)
	for _, p := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&l.DialTimeout, d.DialTimeout}, {&l.UDPFlowIdle, d.UDPFlowIdle}, {&l.ShutdownGrace, d.ShutdownGrace},
	} {
		if *p.v <= 0 {
			*p.v = p.def
		}
	}
	return l
}

// ErrBadToken is returned by GatewayConfig.Authenticate when no configured
// token matches.
var ErrBadToken = errors.New("tunnel: unknown token")

// tokenPrefix starts every token NewToken makes, so that people and secret
// scanners can recognise one.
const tokenPrefix = "fwd_"

// Allows reports whether the token may see and forward the project.
func (t Token) Allows(project string) bool { return allows(t.Projects, project) }

// Authenticate returns the configured token whose SHA-256 is that of token,
// or ErrBadToken. It compares against every configured token in constant
// time, so its timing does not tell which or how many hashes matched a prefix.
func (c *GatewayConfig) Authenticate(token string) (*Token, error) {
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range c.Tokens {
		eq := subtle.ConstantTimeCompare(sum[:], c.Tokens[i].SHA256[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return nil, ErrBadToken
	}
	return &c.Tokens[match], nil
}

// NewToken returns a new random token: "fwd_" followed by 32 random bytes
// in unpadded URL-safe base64 (47 characters in all).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("tunnel: making a token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashToken returns the lowercase hex SHA-256 of token, the form a
// gateway.yaml's sha256 key holds.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
