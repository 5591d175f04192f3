package loopback

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/fwd-dev/fwd/internal/catalog"
)

func TestAddrStableAcrossAllocators(t *testing.T) {
	id := catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}
	var a, b Allocator
	b.Addr(catalog.ID{Project: "other", Kind: catalog.Addon, Name: "db"})
	if got, want := b.Addr(id), a.Addr(id); got != want {
		t.Fatalf("same id got %v and %v", got, want)
	}
}

func TestAddrDiffersByKind(t *testing.T) {
	var a Allocator
	s := a.Addr(catalog.ID{Project: "shop", Kind: catalog.Service, Name: "db"})
	d := a.Addr(catalog.ID{Project: "shop", Kind: catalog.Addon, Name: "db"})
	if s == d {
		t.Fatalf("service and addon db share %v", s)
	}
}

func TestAddrRangeAndUniqueness(t *testing.T) {
	var a Allocator
	seen := map[string]bool{}
	for i := range 20000 {
		addr := a.Addr(catalog.ID{Project: fmt.Sprintf("p%d", i%50), Kind: catalog.Service, Name: fmt.Sprintf("s%d", i)})
		b := addr.As4()
		if b[0] != 127 || b[1] == 0 || b[1] == 255 || b[3] == 0 || b[3] == 255 {
			t.Fatalf("address %v outside the allowed range", addr)
		}
		if seen[addr.String()] {
			t.Fatalf("address %v handed out twice", addr)
		}
		seen[addr.String()] = true
	}
}

func TestCollisionResolvedDeterministically(t *testing.T) {
	// Force a collision: pre-take the first candidate of id.
	id := catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}
	first := Candidate(id, 0)
	run := func() string {
		var a Allocator
		a.byID = map[catalog.ID]netip.Addr{}
		a.taken = map[netip.Addr]catalog.ID{first: {Name: "squatter"}}
		return a.Addr(id).String()
	}
	got1, got2 := run(), run()
	if got1 == first.String() || got1 != got2 {
		t.Fatalf("collision gave %s then %s (first candidate %s)", got1, got2, first)
	}
	if want := Candidate(id, 1).String(); got1 != want {
		t.Fatalf("got %s, want next candidate %s", got1, want)
	}
}

func TestReleaseThenSameAddress(t *testing.T) {
	var a Allocator
	id := catalog.ID{Project: "shop", Kind: catalog.Addon, Name: "db"}
	before := a.Addr(id)
	a.Release(id)
	if after := a.Addr(id); after != before {
		t.Fatalf("after release got %v, want %v", after, before)
	}
}
