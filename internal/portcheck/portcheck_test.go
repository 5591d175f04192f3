package portcheck

import (
	"context"
	"net"
	"strings"
	"testing"
)

// TestCheckWithOneSlot: every target is checked, in order, even when only
// one dial may be in flight and refused targets dial their neighbours too.
func TestCheckWithOneSlot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	var targets []Target
	for i := range 6 {
		addr := ln.Addr().String()
		if i%2 == 1 {
			addr = refused
		}
		targets = append(targets, Target{Project: "p", Resource: "p/r", Port: uint16(1000 + i), Network: "tcp", Address: addr})
	}
	got := Check(context.Background(), targets, Options{Concurrency: 1})
	for i, r := range got {
		want := Reachable
		if i%2 == 1 {
			want = Refused
		}
		if r.Address != targets[i].Address || r.Status != want {
			t.Errorf("%d: %s %s (%s), want %s", i, r.Address, r.Status, r.Error, want)
		}
	}
}

func TestUnresolvableIsUnreachable(t *testing.T) {
	r := Check(context.Background(), []Target{{Network: "tcp", Address: "no-such-host.invalid:80"}}, Options{})[0]
	if r.Status != Unreachable || !r.Status.Failed() {
		t.Errorf("%s (%s), want unreachable", r.Status, r.Error)
	}
}

func TestAuditQuietOnAGoodCatalog(t *testing.T) {
	got := Audit([]Target{
		{Project: "shop", Resource: "shop/api", Port: 8080, Network: "tcp", Address: "10.0.0.5:8080"},
		{Project: "shop", Resource: "shop/api", Port: 8080, Network: "tcp", Address: "10.0.0.6:8080"},
		{Project: "shop", Resource: "shop/addon:dns", Port: 5353, Network: "udp", Address: "10.0.0.5:8080"},
		{Project: "blog", Resource: "blog/api", Port: 8080, Network: "tcp", Address: "10.0.1.5:8080"},
	}, 1024)
	if len(got) != 0 {
		t.Errorf("findings on a good catalog (two targets of one port, TCP and UDP on one address, one number in two projects): %+v", got)
	}
	if j := joinAnd([]string{"1", "2", "3"}); !strings.Contains(j, "2 and 3") {
		t.Errorf("joinAnd: %q", j)
	}
}
