package via_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// stallRelay is a TCP relay to one address that can stop moving bytes
// without closing anything: a link that died without a reset.
type stallRelay struct {
	ln      net.Listener
	to      string
	stalled atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

func startStallRelay(t *testing.T, to string) *stallRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	r := &stallRelay{ln: ln, to: to}
	t.Cleanup(r.close)
	go r.accept()
	return r
}

func (r *stallRelay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.to)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, up)
		r.mu.Unlock()
		go r.pipe(c, up)
		go r.pipe(up, c)
	}
}

// pipe copies src to dst, holding every read back while stalled.
func (r *stallRelay) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for r.stalled.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (r *stallRelay) close() {
	r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
}

// TestKeepAliveDropsAStalledLink checks that keepalive@openssh.com
// requests find a link that carries nothing any more: the connection is
// dropped after three unanswered, and once the link carries again, the
// client reconnects and forwards.
func TestKeepAliveDropsAStalledLink(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	relay := startStallRelay(t, s.Addr)
	pem, err := os.ReadFile(s.ClientKey)
	must(t, err)
	signer, err := ssh.ParsePrivateKey(pem)
	must(t, err)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(kh, []byte(knownhosts.Normalize(relay.ln.Addr().String())+" "+s.HostKey+"\n"), 0o600))
	check, err := knownhosts.New(kh)
	must(t, err)
	cfg := &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: check, Timeout: time.Second}
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "keepalive", Services: []catalog.Resource{{
		Kind: catalog.Service, Project: "keepalive", Name: "echo",
		Ports: []catalog.Port{{Name: "main", Port: 17112, Protocol: catalog.TCP, Targets: []string{startEcho(t)}}}}}}}}
	causes := make(chan error, 16)
	c, err := forward.New(forward.Options{
		SSH: &forward.SSHVia{
			Dial:      func(context.Context) (*ssh.Client, error) { return ssh.Dial("tcp", relay.ln.Addr().String(), cfg) },
			Catalog:   cat,
			KeepAlive: 200 * time.Millisecond,
		},
		SkipHostnames: true,
		Timeout:       time.Second,
		Logger:        fwdtest.Logger(t),
		OnEvent: func(e forward.Event) {
			if e.State == forward.StateReconnecting && e.Err != nil {
				select {
				case causes <- e.Err:
				default:
				}
			}
		},
	})
	must(t, err)
	defer c.Stop()
	results, err := c.ForwardAll(context.Background())
	must(t, err)
	addr := addrOf(t, results, "main")
	must(t, echo(addr, "before", 5*time.Second))

	relay.stalled.Store(true)
	stalled := time.Now()
	select {
	case err := <-causes:
		if !strings.Contains(err.Error(), "no answer to keepalives") {
			t.Fatalf("dropped for %v, want unanswered keepalives", err)
		}
		t.Logf("dropped %s after the link stalled: %v", time.Since(stalled).Round(10*time.Millisecond), err)
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled link was not dropped within 5s with keepalives every 200ms")
	}
	relay.stalled.Store(false)
	must(t, echo(addr, "after", 10*time.Second))
	if state, _ := c.State(); state != forward.StateConnected {
		t.Errorf("state %v after the link came back", state)
	}
}
