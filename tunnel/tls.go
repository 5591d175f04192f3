package tunnel

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// alpn names the protocol during the TLS handshake, so a fwd client never
// mistakes some other TLS server for a gateway.
const alpn = "fwd/1"

// Fingerprint returns "sha256:HEX" of a DER certificate, the form the client
// accepts in --fingerprint.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint accepts "sha256:HEX" (or bare HEX, with or without colons)
// and returns the 32 bytes.
func ParseFingerprint(s string) ([]byte, error) {
	h := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	h = strings.ReplaceAll(h, ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("tunnel: fingerprint %q is not sha256:<64 hex digits>", s)
	}
	return b, nil
}

// GenerateCertificate makes a self-signed ECDSA P-256 certificate for a
// gateway, valid for ten years for localhost, the loopback addresses and hosts.
func GenerateCertificate(hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tunnel: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tunnel: generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "fwd gateway"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tunnel: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tunnel: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// LoadOrCreateCertificate loads the gateway's certificate and key, first
// generating a self-signed pair at those paths if neither file exists. created
// reports whether it did.
func LoadOrCreateCertificate(certPath, keyPath string) (cert tls.Certificate, created bool, err error) {
	host, _ := os.Hostname()
	return LoadOrCreateCertificateFor(certPath, keyPath, host)
}

// LoadOrCreateCertificateFor is LoadOrCreateCertificate for a certificate
// that names hosts (such as "*.fwd.example.com" for exposures).
func LoadOrCreateCertificateFor(certPath, keyPath string, hosts ...string) (cert tls.Certificate, created bool, err error) {
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist) {
		certPEM, keyPEM, err := GenerateCertificate(hosts...)
		if err != nil {
			return cert, false, err
		}
		// The key first and exclusively: two gateways starting at once must
		// not each write half a pair.
		if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
			return cert, false, err
		}
		if err := writeNew(certPath, certPEM, 0o644); err != nil {
			return cert, false, err
		}
		created = true
	}
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return cert, false, fmt.Errorf("tunnel: load certificate %s and key %s: %w", certPath, keyPath, err)
	}
	return cert, created, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("tunnel: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("tunnel: write %s: %w", path, err)
	}
	return f.Close()
}

// ServerTLSConfig is the gateway's TLS configuration: TLS 1.3 only.
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{alpn},
	}
}

// Trust says how a client decides that a gateway is the right one. With
// neither field set, the system's roots are used.
type Trust struct {
	// Fingerprint pins the gateway's leaf certificate: "sha256:HEX".
	Fingerprint string
	// CAs verifies the gateway's chain and name instead of the system roots.
	CAs *x509.CertPool
}

// LoadCAFile reads PEM certificates for Trust.CAs.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tunnel: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("tunnel: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ErrUntrusted matches (with errors.Is) an *UntrustedError.
var ErrUntrusted = errors.New("tunnel: gateway certificate not trusted")

// UntrustedError is returned when the gateway's certificate fails
// verification. Fingerprint is what to pin if the user trusts it anyway.
type UntrustedError struct {
	Fingerprint string
	Reason      error
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("tunnel: gateway certificate not trusted (%v); its fingerprint is %s", e.Reason, e.Fingerprint)
}

// Is makes errors.Is(err, ErrUntrusted) true.
func (e *UntrustedError) Is(target error) bool { return target == ErrUntrusted }

// Unwrap returns the verification failure.
func (e *UntrustedError) Unwrap() error { return e.Reason }

// clientTLSConfig verifies the gateway itself, rather than through
// crypto/tls's default, so that a failure can report the fingerprint.
func (t Trust) clientTLSConfig(serverName string) (*tls.Config, error) {
	var pin []byte
	if t.Fingerprint != "" {
		var err error
		if pin, err = ParseFingerprint(t.Fingerprint); err != nil {
			return nil, err
		}
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &UntrustedError{Reason: errors.New("no certificate")}
		}
		leaf := cs.PeerCertificates[0]
		if pin != nil {
			sum := sha256.Sum256(leaf.Raw)
			if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
				return &UntrustedError{Fingerprint: Fingerprint(leaf.Raw), Reason: errors.New("fingerprint does not match --fingerprint")}
			}
			return nil
		}
		opts := x509.VerifyOptions{Roots: t.CAs, DNSName: serverName, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := leaf.Verify(opts); err != nil {
			return &UntrustedError{Fingerprint: Fingerprint(leaf.Raw), Reason: err}
		}
		return nil
	}
	return &tls.Config{
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{alpn},
		InsecureSkipVerify: true, // verify below does the whole check, pin or chain
		VerifyConnection:   verify,
	}, nil
}

// ProbeTrust does only a TLS handshake with the gateway at addr, with
// trust (the zero Trust: the system's roots), and returns the
// fingerprint of its certificate. A certificate trust does not vouch for
// is returned as an *UntrustedError, which names the fingerprint: a
// client may then ask its user whether to pin it. Nothing logs in, so the
// gateway counts no failed login.
func ProbeTrust(ctx context.Context, addr string, trust Trust) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("tunnel: gateway address %q: %w", addr, err)
	}
	conf, err := trust.clientTLSConfig(host)
	if err != nil {
		return "", err
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", &DialError{Phase: PhaseConnect, Addr: addr, Err: err}
	}
	conn := tls.Client(raw, conf)
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		var untrusted *UntrustedError
		if errors.As(err, &untrusted) {
			return untrusted.Fingerprint, untrusted
		}
		return "", &DialError{Phase: PhaseTLS, Addr: addr, Err: err}
	}
	return Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw), nil
}

// recordCertificate returns a copy of conf for one connection that notes
// which certificate it served (the SSH-key login signs over it), and where
// the note will be once the handshake is done.
func recordCertificate(conf *tls.Config) (*tls.Config, *[]byte) {
	served := new([]byte)
	c := conf.Clone()
	// crypto/tls asks GetCertificate only without Certificates (or with
	// SNI): the choice is made in pickCertificate instead.
	c.Certificates = nil
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := pickCertificate(conf, hello)
		if err == nil && cert != nil && len(cert.Certificate) > 0 {
			*served = cert.Certificate[0]
		}
		return cert, err
	}
	return c, served
}

// pickCertificate chooses as crypto/tls would: the config's own
// GetCertificate, else the first of its certificates the client supports.
func pickCertificate(conf *tls.Config, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if conf.GetCertificate != nil {
		return conf.GetCertificate(hello)
	}
	if len(conf.Certificates) == 0 {
		return nil, errors.New("tunnel: the gateway has no certificate")
	}
	for i := range conf.Certificates {
		if hello.SupportsCertificate(&conf.Certificates[i]) == nil {
			return &conf.Certificates[i], nil
		}
	}
	return &conf.Certificates[0], nil
}
