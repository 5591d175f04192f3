package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// expirySoon is when a certificate's end is worth a warning: time to
// renew it before clients start failing.
const expirySoon = 14 * 24 * time.Hour

// PeerCertificate does a TLS handshake with addr only to read the
// certificate it presents; whether to trust it is for the caller's own
// check (tunnel.ProbeTrust), which has already been made.
func PeerCertificate(ctx context.Context, addr string) (*x509.Certificate, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("doctor: %q: %w", addr, err)
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("doctor: %w", err)
	}
	// Read, not trusted: nothing is sent over this connection.
	conn := tls.Client(raw, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("doctor: TLS handshake with %s: %w", addr, err)
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("doctor: the gateway sent no certificate")
	}
	return certs[0], nil
}

// Certificate checks the validity window of the gateway's certificate
// against this machine's clock: expired, expiring soon, or not valid yet,
// which means one of the two clocks is wrong.
func Certificate(addr string, cert *x509.Certificate, now time.Time) Finding {
	f := Finding{Check: CheckGateway}
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	switch left := cert.NotAfter.Sub(now); {
	case now.Before(cert.NotBefore):
		f.Severity = Problem
		f.Message = fmt.Sprintf("gateway %s: its certificate is not valid until %s, %s from now by this machine's clock: this clock is behind, or the gateway's was ahead when it made the certificate", addr, day(cert.NotBefore), cert.NotBefore.Sub(now).Round(time.Second))
		f.Fix = "check this machine's time (timedatectl, or date -u) against the gateway's; with NTP on both, this goes away"
	case left <= 0:
		f.Severity = Problem
		f.Message = fmt.Sprintf("gateway %s: its certificate expired on %s", addr, day(cert.NotAfter))
		f.Fix = "renew the gateway's certificate (tls: in gateway.yaml); if this machine's clock is ahead, fix that instead"
	case left < expirySoon:
		f.Severity = Warning
		f.Message = fmt.Sprintf("gateway %s: its certificate expires on %s, in %s", addr, day(cert.NotAfter), left.Round(time.Hour))
		f.Fix = "renew the gateway's certificate before then"
	default:
		f.Severity = OK
		f.Message = fmt.Sprintf("gateway %s: certificate valid until %s (%d days), and this clock is within its window", addr, day(cert.NotAfter), int(left.Hours()/24))
	}
	return f
}
