package fwdtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

func TestLookPathMissing(t *testing.T) {
	_, err := LookPath("no-such-binary-fwd")
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("LookPath of a missing binary: %v, want ErrNotInstalled", err)
	}
}

func TestPostgres(t *testing.T) {
	NeedBinaries(t, "postgres", "psql")
	pg, err := StartPostgres(ctx(t, 60*time.Second), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	psql, _ := LookPath("psql")
	out, err := exec.Command(psql, "-X", "-At", "-d", pg.DSN(pg.Addr), "-c", "select 40+2").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Fatalf("psql: %v: %q", err, out)
	}
	if err := pg.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", pg.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("postgres still accepts on %s after Close", pg.Addr)
	}
}

func TestRedis(t *testing.T) {
	NeedBinaries(t, "redis")
	r, err := StartRedis(ctx(t, 30*time.Second), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := net.Dial("tcp", r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "PING\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING: %q %v", line, err)
	}
}

func TestRedisPortRetry(t *testing.T) {
	NeedBinaries(t, "redis")
	// Two at once must get two ports.
	dir := t.TempDir()
	a, err := StartRedis(ctx(t, 30*time.Second), dir+"/a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := StartRedis(ctx(t, 30*time.Second), dir+"/b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Addr == b.Addr {
		t.Fatalf("both on %s", a.Addr)
	}
}

func TestNginx(t *testing.T) {
	NeedBinaries(t, "nginx")
	n, err := StartNginx(ctx(t, 30*time.Second), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	resp, err := http.Get("http://" + n.HTTPAddr + "/data.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, resp.Body)
	resp.Body.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != n.DataSHA256 {
		t.Fatalf("data.bin sha256 %s, want %s", got, n.DataSHA256)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.CertPool(), ServerName: TLSServerName}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr}).Get("https://" + n.H2Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || resp.Header.Get("X-Fwd-Server") != "h2" {
		t.Fatalf("h2: %s %v", resp.Proto, resp.Header)
	}
}

func TestDnsmasq(t *testing.T) {
	NeedBinaries(t, "dnsmasq")
	d, err := StartDnsmasq(ctx(t, 30*time.Second), t.TempDir(), DNSOptions{
		Domains: map[string]netip.Addr{"test.fwd": netip.MustParseAddr("10.1.2.3")},
		Hosts:   map[string]netip.Addr{"one.fwd": netip.MustParseAddr("198.51.100.1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := net.Dial("udp", d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, want := range map[string]string{"test.fwd": "10.1.2.3", "x.test.fwd": "10.1.2.3", "one.fwd": "198.51.100.1"} {
		got, err := LookupA(c, name, 2*time.Second)
		if err != nil || len(got) != 1 || got[0].String() != want {
			t.Errorf("%s: %v %v, want %s", name, got, err, want)
		}
	}
	if _, err := LookupA(c, "nope.fwd", 2*time.Second); !errors.Is(err, ErrNXDomain) {
		t.Errorf("nope.fwd: %v, want ErrNXDomain", err)
	}
}

func TestSSHD(t *testing.T) {
	NeedBinaries(t, "sshd", "ssh")
	s, err := StartSSHD(ctx(t, 30*time.Second), t.TempDir(), SSHDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	args, err := s.SSHArgs(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	sshBin, _ := LookPath("ssh")
	out, err := exec.Command(sshBin, append(args, "echo", "fwd-ok")...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "fwd-ok" {
		t.Fatalf("ssh: %v: %q", err, out)
	}
}

func TestGoServers(t *testing.T) {
	sink, err := StartHashSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	c, err := net.Dial("tcp", sink.Addr)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("fwd"), 1000)
	c.Write(data)
	c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	c.Close()
	sum := sha256.Sum256(data)
	if string(got) != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash sink said %q", got)
	}

	ws, err := StartWebSocketEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	conn, err := DialWebSocket(ctx(t, 10*time.Second), ws.Addr, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if op, msg, err := conn.ReadMessage(); err != nil || op != OpText || string(msg) != WebSocketGreeting {
		t.Fatalf("greeting: %d %q %v", op, msg, err)
	}
	big := bytes.Repeat([]byte{7}, 70000)
	if err := conn.WriteMessage(OpBinary, big); err != nil {
		t.Fatal(err)
	}
	if op, msg, err := conn.ReadMessage(); err != nil || op != OpBinary || !bytes.Equal(msg, big) {
		t.Fatalf("echo: %d %d bytes %v", op, len(msg), err)
	}
}

// TestPortTakenIsRetried gives every server a port that is already taken as
// its first choice: each must notice the bind failure and move to another.
func TestPortTakenIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	udp, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	servers := []struct {
		name  string
		start func(dir string, pick StartOption) (addr string, close func() error, err error)
	}{
		{"redis", func(dir string, pick StartOption) (string, func() error, error) {
			s, err := StartRedis(ctx(t, 30*time.Second), dir, pick)
			if err != nil {
				return "", nil, err
			}
			return s.Addr, s.Close, nil
		}},
		{"postgres", func(dir string, pick StartOption) (string, func() error, error) {
			s, err := StartPostgres(ctx(t, 60*time.Second), dir, pick)
			if err != nil {
				return "", nil, err
			}
			return s.Addr, s.Close, nil
		}},
		{"nginx", func(dir string, pick StartOption) (string, func() error, error) {
			s, err := StartNginx(ctx(t, 30*time.Second), dir, pick)
			if err != nil {
				return "", nil, err
			}
			return s.HTTPAddr + " " + s.H2Addr + " " + s.H2CAddr, s.Close, nil
		}},
		{"dnsmasq", func(dir string, pick StartOption) (string, func() error, error) {
			s, err := StartDnsmasq(ctx(t, 30*time.Second), dir, DNSOptions{}, pick)
			if err != nil {
				return "", nil, err
			}
			return s.Addr, s.Close, nil
		}},
		{"sshd", func(dir string, pick StartOption) (string, func() error, error) {
			s, err := StartSSHD(ctx(t, 30*time.Second), dir, SSHDOptions{}, pick)
			if err != nil {
				return "", nil, err
			}
			return s.Addr, s.Close, nil
		}},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			NeedBinaries(t, s.name)
			given := 0
			pick := WithPortPicker(func(networks ...string) (int, error) {
				given++
				if given == 1 {
					return taken, nil
				}
				return FreePort(networks...)
			})
			addr, closeFn, err := s.start(t.TempDir(), pick)
			if err != nil {
				t.Fatal(err)
			}
			defer closeFn()
			if given < 2 || strings.Contains(addr, ":"+strconv.Itoa(taken)) {
				t.Fatalf("started on %s after %d port picks; port %d was taken", addr, given, taken)
			}
		})
	}
}
