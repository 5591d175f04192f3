package retry

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestPauseDoublesToCapAndResets(t *testing.T) {
	var p Pause
	if p.Succeeded() {
		t.Fatal("a success with no failure before reported a recovery")
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i, w := range want {
		got, first := p.Failed()
		if got != w*time.Millisecond || first != (i == 0) {
			t.Fatalf("failure %d: wait %v first %v, want %v first %v", i+1, got, first, w*time.Millisecond, i == 0)
		}
	}
	if !p.Succeeded() {
		t.Fatal("a success after failures did not report a recovery")
	}
	if got, first := p.Failed(); got != 5*time.Millisecond || !first {
		t.Fatalf("after a success: wait %v first %v, want 5ms and a new run", got, first)
	}
}

// flakyListener fails its first accepts, then accepts from the real one.
type flakyListener struct {
	net.Listener
	fails int
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, errors.New("accept: too many open files")
	}
	return f.Listener.Accept()
}

func TestAcceptLoopWaitsOutFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var reports []error
	got := make(chan net.Conn, 1)
	ended := make(chan error, 1)
	go func() {
		ended <- AcceptLoop(&flakyListener{Listener: ln, fails: 3}, nil, func(c net.Conn) { got <- c }, func(err error) { reports = append(reports, err) })
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case s := <-got:
		s.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after the failures")
	}
	ln.Close()
	if err := <-ended; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("loop ended with %v, want the closed listener", err)
	}
	if len(reports) != 2 || reports[0] == nil || reports[1] != nil {
		t.Fatalf("reports %v, want the first failure then the recovery", reports)
	}
}
