package roundrobin

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// listen starts a TCP listener that accepts and closes, and returns its
// address.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// refused is a loopback address nothing listens on.
func refused(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestTakesTurns checks that calls for one key start at the next target
// each time, and that keys keep turns of their own.
func TestTakesTurns(t *testing.T) {
	a, b := listen(t), listen(t)
	var c Cursors
	var got []string
	dial := func(addr string) (net.Conn, error) {
		got = append(got, addr)
		return net.Dial("tcp", addr)
	}
	for range 4 {
		conn, err := c.Dial("p1", []string{a, b}, dial)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	if want := []string{a, b, a, b}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("dialled %v, want %v", got, want)
	}
	got = nil
	conn, err := c.Dial("p2", []string{a, b}, dial)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if len(got) != 1 || got[0] != a {
		t.Errorf("a new key dialled %v first, want %s", got, a)
	}
}

// TestFailsOver checks that a refused target is passed over, and that
// with all refused every error is kept, the last tried last.
func TestFailsOver(t *testing.T) {
	good, bad := listen(t), refused(t)
	var c Cursors
	dial := func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }
	for i := range 3 {
		conn, err := c.Dial("p", []string{bad, good}, dial)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		conn.Close()
	}
	bad2 := refused(t)
	_, err := c.Dial("q", []string{bad, bad2}, dial)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Fatalf("all refused: err = %v, want both errors joined", err)
	}
	if last := joined.Unwrap()[1]; !strings.Contains(last.Error(), bad2) {
		t.Errorf("last error %q does not name the last target tried, %s", last, bad2)
	}
	if _, err := c.Dial("r", nil, dial); err == nil {
		t.Error("no targets: no error")
	}
}
