package loopback

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestAddrStableAcrossAllocators(t *testing.T) {
	id := ID{Project: "shop", Kind: "service", Name: "api"}
	var a, b Allocator
	b.Addr(ID{Project: "other", Kind: "addon", Name: "db"})
	if got, want := b.Addr(id), a.Addr(id); got != want {
		t.Fatalf("same id got %v and %v", got, want)
	}
}

func TestAddrDiffersByKind(t *testing.T) {
	var a Allocator
	s := a.Addr(ID{Project: "shop", Kind: "service", Name: "db"})
	d := a.Addr(ID{Project: "shop", Kind: "addon", Name: "db"})
	if s == d {
		t.Fatalf("service and addon db share %v", s)
	}
}

func TestAddrRangeAndUniqueness(t *testing.T) {
	var a Allocator
	seen := map[string]bool{}
	for i := range 20000 {
		addr := a.Addr(ID{Project: fmt.Sprintf("p%d", i%50), Kind: "service", Name: fmt.Sprintf("s%d", i)})
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
	id := ID{Project: "shop", Kind: "service", Name: "api"}
	first := Candidate(id, 0)
	run := func() string {
		var a Allocator
		a.byID = map[ID]netip.Addr{}
		a.taken = map[netip.Addr]ID{first: {Name: "squatter"}}
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
	id := ID{Project: "shop", Kind: "addon", Name: "db"}
	before := a.Addr(id)
	a.Release(id)
	if after := a.Addr(id); after != before {
		t.Fatalf("after release got %v, want %v", after, before)
	}
}

func TestCandidatesSkipOthersAndRepeat(t *testing.T) {
	id := ID{Project: "shop", Kind: "addon", Name: "db"}
	var a Allocator
	first := a.Candidates(id, 4)
	if len(first) != 4 || first[0] != Candidate(id, 0) {
		t.Fatalf("candidates %v, want 4 starting at %v", first, Candidate(id, 0))
	}
	if again := a.Candidates(id, 4); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("candidates changed between calls: %v then %v", first, again)
	}
	other := ID{Project: "x", Kind: "service", Name: "y"}
	a.Reserve(other, first[0])
	skipped := a.Candidates(id, 4)
	if skipped[0] != first[1] || skipped[2] != first[3] {
		t.Fatalf("with %v held by another id: %v, want the rest of %v in order", first[0], skipped, first)
	}
	a.Reserve(id, first[2])
	if got := a.Addr(id); got != first[2] {
		t.Fatalf("Addr after Reserve = %v, want %v", got, first[2])
	}
}

// TestAddressesStayAcrossVersions pins addresses that users have in their
// configs and bookmarks (the README shows these two): the derivation must
// never change.
func TestAddressesStayAcrossVersions(t *testing.T) {
	for id, want := range map[ID]string{
		{Project: "shop", Kind: "service", Name: "api"}: "127.49.73.58",
		{Project: "shop", Kind: "addon", Name: "db"}:    "127.234.146.239",
	} {
		if got := Candidate(id, 0).String(); got != want {
			t.Errorf("%v: %s, want %s", id, got, want)
		}
	}
}
