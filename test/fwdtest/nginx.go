package fwdtest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TLSServerName is the name in the certificates this package generates
// (with IP 127.0.0.1). Clients that reach a server through another address
// set it as the TLS server name.
const TLSServerName = "localhost"

// Nginx is a running nginx with three listeners on 127.0.0.1:
//
//   - HTTPAddr: HTTP/1.1 with keep-alive (1000 requests, 120s)
//   - H2Addr: HTTP/2 over TLS (ALPN h2, also http/1.1), certificate for
//     TLSServerName, signed by itself (CertPEM)
//   - H2CAddr: HTTP/2 over cleartext with prior knowledge (h2c)
//
// Every server answers GET / (and any path but /data.bin) with 200 and one line
// "ok PROTO CONN REQ": $server_protocol, $connection (nginx's connection serial
// number) and $connection_requests. GET /data.bin serves a file of
// DataSize bytes whose SHA-256 is DataSHA256 (hex). Each response carries the
// header X-Fwd-Server naming the listener ("http", "h2", "h2c").
type Nginx struct {
	HTTPAddr string
	H2Addr   string
	H2CAddr  string

	CertPEM  []byte // the self-signed certificate of H2Addr
	CertFile string
	Dir      string
	// AccessLog is written with one line per request:
	// "server connection connection_requests protocol status uri".
	AccessLog string

	DataSize   int
	DataSHA256 string

	proc *Process
}

// Close stops nginx (fast shutdown) and waits for it.
func (n *Nginx) Close() error { return n.proc.Stop() }

// CertPool returns a pool holding the certificate of H2Addr.
func (n *Nginx) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(n.CertPEM)
	return p
}

// AccessEntry is one line of the access log.
type AccessEntry struct {
	Server     string // "http", "h2", "h2c"
	Connection int64  // nginx's connection serial number
	Requests   int    // requests made on that connection so far, this one included
	Proto      string // "HTTP/1.1", "HTTP/2.0"
	Status     int
	URI        string
}

// Access reads the access log. nginx writes each line when the request is
// done, before the connection is reused, so a client that has read its last
// response finds every one of its requests here.
func (n *Nginx) Access() ([]AccessEntry, error) {
	f, err := os.Open(n.AccessLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AccessEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e AccessEntry
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d %s %d %s", &e.Server, &e.Connection, &e.Requests, &e.Proto, &e.Status, &e.URI); err != nil {
			return nil, fmt.Errorf("fwdtest: access log line %q: %w", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// StartNginx writes a config, a certificate and a data file under dir/nginx
// and runs nginx -g 'daemon off;' on three free ports.
func StartNginx(ctx context.Context, dir string, start ...StartOption) (*Nginx, error) {
	bin, err := LookPath("nginx")
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "nginx")
	www := filepath.Join(base, "www")
	for _, d := range []string{base, www, filepath.Join(base, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("fwdtest: nginx: %w", err)
		}
	}
	certPEM, keyPEM, err := SelfSignedCert(TLSServerName)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(base, "cert.pem"), filepath.Join(base, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("fwdtest: nginx: %w", err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("fwdtest: nginx: %w", err)
	}
	const dataSize = 1 << 20
	dataSum, err := writePRNGFile(filepath.Join(www, "data.bin"), 1, dataSize)
	if err != nil {
		return nil, err
	}
	// A token only this nginx serves tells it from anything else that might
	// answer on the port.
	var tok [8]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	accessLog := filepath.Join(base, "access.log")

	return withPorts(newStartConfig(start), 3, []string{"tcp"}, func(ports []int) (*Nginx, error) {
		pidFile := filepath.Join(base, "nginx.pid")
		errorLog := filepath.Join(base, "error.log")
		os.Remove(pidFile)
		os.Remove(errorLog)
		user := ""
		if os.Geteuid() == 0 {
			// Workers must read files under dir, which may be private to root.
			user = "user root root;"
		}
		server := func(name, listen, extra string) string {
			return fmt.Sprintf(`
    server {
        listen %s;
        server_name %s;
        %s
        add_header X-Fwd-Server %s always;
        add_header X-Fwd-Token %s always;
        location = /data.bin {
            root %s;
        }
        location / {
            default_type text/plain;
            return 200 "ok $server_protocol $connection $connection_requests\n";
        }
    }
`, listen, TLSServerName, extra, name, token, www)
		}
		conf := fmt.Sprintf(`%s
worker_processes 1;
pid %s;
error_log %s info;
events {
    worker_connections 1024;
}
http {
    log_format fwd '$fwd_server $connection $connection_requests $server_protocol $status $request_uri';
    map $server_port $fwd_server {
        %d http;
        %d h2;
        %d h2c;
    }
    access_log %s fwd;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    keepalive_requests 1000;
    keepalive_timeout 120s;
    http2_max_requests 10000;
    sendfile on;
    tcp_nopush on;
    types {
        application/octet-stream bin;
    }
%s%s%s}
`, user, pidFile, errorLog, ports[0], ports[1], ports[2], accessLog,
			filepath.Join(base, "tmp", "body"), filepath.Join(base, "tmp", "proxy"), filepath.Join(base, "tmp", "fastcgi"),
			filepath.Join(base, "tmp", "uwsgi"), filepath.Join(base, "tmp", "scgi"),
			server("http", fmt.Sprintf("127.0.0.1:%d", ports[0]), ""),
			server("h2", fmt.Sprintf("127.0.0.1:%d ssl http2", ports[1]), fmt.Sprintf(
				"ssl_certificate %s;\n        ssl_certificate_key %s;\n        ssl_protocols TLSv1.2 TLSv1.3;", certFile, keyFile)),
			server("h2c", fmt.Sprintf("127.0.0.1:%d http2", ports[2]), ""))
		confPath := filepath.Join(base, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("fwdtest: nginx: %w", err)
		}
		// Startup problems go to stderr (and so to nginx.log); bind failures
		// also go to error.log, which readiness watches too.
		proc, err := StartProcess("nginx", ProcessOptions{LogPath: filepath.Join(base, "nginx.log"), Env: baseEnv(), OwnGroup: true},
			bin, "-p", base, "-c", confPath, "-e", errorLog, "-g", "daemon off;")
		if err != nil {
			return nil, err
		}
		httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		err = proc.WaitReady(ctx, func() (bool, error) {
			if b, _ := os.ReadFile(errorLog); strings.Contains(string(b), "Address already in use") {
				proc.Stop()
				return false, fmt.Errorf("%w: %s", errPortInUse, b)
			}
			if _, err := os.Stat(pidFile); err != nil {
				return false, nil
			}
			resp, err := client.Get("http://" + httpAddr + "/")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.Header.Get("X-Fwd-Token") == token, nil
		})
		if err != nil {
			return nil, err
		}
		return &Nginx{
			HTTPAddr:  httpAddr,
			H2Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
			H2CAddr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
			CertPEM:   certPEM,
			CertFile:  certFile,
			Dir:       base,
			AccessLog: accessLog,
			DataSize:  dataSize, DataSHA256: dataSum,
			proc: proc,
		}, nil
	})
}

// SelfSignedCert returns a PEM certificate and PKCS#8 key (ECDSA P-256) for
// name and 127.0.0.1, valid for a day, signed by itself.
func SelfSignedCert(name string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("fwdtest: certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("fwdtest: key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
