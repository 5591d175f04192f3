package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// User is one person who logs in with an SSH key or an SSH certificate
// instead of a token, scoped to projects as tokens are.
type User struct {
	// Name identifies the user in logs, and is the principal an SSH
	// certificate must name for it.
	Name string
	// Keys are the user's authorized public keys (authorized_keys lines).
	Keys []ssh.PublicKey
	// Projects are the projects the user may see and forward; "*" is all.
	Projects []string
	// Expose lets the user publish local ports (fwd expose).
	Expose bool
}

// Allows reports whether the user may see and forward the project.
func (u User) Allows(project string) bool { return allows(u.Projects, project) }

func allows(projects []string, project string) bool {
	for _, p := range projects {
		if p == "*" || p == project {
			return true
		}
	}
	return false
}

// Errors from AuthorizeSSH, as OpenSSH words them. Each is wrapped with
// the key's SHA256 fingerprint or the certificate's details.
var (
	ErrKeyNotAuthorized    = errors.New("key not authorized")
	ErrCertExpired         = errors.New("certificate expired")
	ErrCertNotYetValid     = errors.New("certificate not yet valid")
	ErrPrincipalNotAllowed = errors.New("principal not allowed")
	ErrCertUnknownCA       = errors.New("certificate not signed by a CA the gateway trusts")
)

// AuthorizeSSH returns the user that key logs in as: the user whose
// authorized keys hold it, or, for an SSH certificate signed by one of
// SSHUserCAs and valid now, the user its principals name. The error says
// why not, in OpenSSH's words, with the key's fingerprint.
func (c *GatewayConfig) AuthorizeSSH(key ssh.PublicKey, now time.Time) (*User, error) {
	if cert, ok := key.(*ssh.Certificate); ok {
		return c.authorizeCert(cert, now)
	}
	blob := key.Marshal()
	for i := range c.Users {
		for _, k := range c.Users[i].Keys {
			if bytes.Equal(k.Marshal(), blob) {
				return &c.Users[i], nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s %s", ErrKeyNotAuthorized, key.Type(), ssh.FingerprintSHA256(key))
}

func (c *GatewayConfig) authorizeCert(cert *ssh.Certificate, now time.Time) (*User, error) {
	if cert.CertType != ssh.UserCert {
		return nil, fmt.Errorf("%w: a host certificate is no user's", ErrKeyNotAuthorized)
	}
	if !c.trustsCA(cert.SignatureKey) {
		return nil, fmt.Errorf("%w: signed by %s", ErrCertUnknownCA, ssh.FingerprintSHA256(cert.SignatureKey))
	}
	unix := uint64(now.Unix())
	switch {
	case cert.ValidAfter != 0 && unix < cert.ValidAfter:
		return nil, fmt.Errorf("%w: valid from %s", ErrCertNotYetValid, time.Unix(int64(cert.ValidAfter), 0).UTC().Format(time.RFC3339))
	case cert.ValidBefore != ssh.CertTimeInfinity && unix >= cert.ValidBefore:
		return nil, fmt.Errorf("%w: valid until %s", ErrCertExpired, time.Unix(int64(cert.ValidBefore), 0).UTC().Format(time.RFC3339))
	}
	for _, p := range cert.ValidPrincipals {
		for i := range c.Users {
			if c.Users[i].Name == p {
				if err := checkSignature(cert, p); err != nil {
					return nil, err
				}
				return &c.Users[i], nil
			}
		}
	}
	return nil, fmt.Errorf("%w: the certificate names %s, and the gateway has no such user", ErrPrincipalNotAllowed, strings.Join(quoted(cert.ValidPrincipals), ", "))
}

// checkSignature verifies the CA's signature over the certificate, with
// ssh.CertChecker. Critical options (force-command, source-address) are
// not supported, so a certificate that has any is refused rather than
// granted more than it says.
func checkSignature(cert *ssh.Certificate, principal string) error {
	checker := &ssh.CertChecker{SupportedCriticalOptions: []string{}}
	if err := checker.CheckCert(principal, cert); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyNotAuthorized, err)
	}
	return nil
}

func (c *GatewayConfig) trustsCA(key ssh.PublicKey) bool {
	blob := key.Marshal()
	for _, ca := range c.SSHUserCAs {
		if bytes.Equal(ca.Marshal(), blob) {
			return true
		}
	}
	return false
}

func quoted(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
