package fwdtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Testdata returns the path of a file under the repository's testdata/
// (see testdata/README.md), wherever the test runs from.
func Testdata(elem ...string) string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(here), "..", "..", "testdata"}, elem...)...)
}

// Certificate is the shared test gateway certificate
// (testdata/certs/gateway.pem): signed by the test CA for localhost,
// gateway.test, 127.0.0.1 and ::1.
func Certificate() (tls.Certificate, error) {
	return loadPair("gateway")
}

// OtherCertificate is a self-signed certificate nothing trusts
// (testdata/certs/other.pem): another server, or an impostor.
func OtherCertificate() (tls.Certificate, error) {
	return loadPair("other")
}

func loadPair(name string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(Testdata("certs", name+".pem"), Testdata("certs", name+".key"))
	if err != nil {
		return c, fmt.Errorf("fwdtest: %w", err)
	}
	return c, nil
}

// CAPool holds the test CA (testdata/certs/ca.pem), which signed
// Certificate.
func CAPool() (*x509.CertPool, error) {
	b, err := os.ReadFile(Testdata("certs", "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("fwdtest: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("fwdtest: %s holds no certificate", Testdata("certs", "ca.pem"))
	}
	return pool, nil
}
