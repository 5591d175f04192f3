// Package loopback gives each forwarded service or addon its own address in
// 127.0.0.0/8, the same one on every run, so that two databases can both keep
// port 5432 and bookmarks, configs and hosts entries stay valid.
package loopback

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"sync"
)

// ID names what gets an address: a project's service or addon. Its fields
// are what the address is derived from, so they must not change meaning:
// an address is meant to stay the same across runs and fwd versions.
type ID struct {
	Project string
	Kind    string // "service" or "addon"
	Name    string
}

// Allocator hands out addresses. The address of an ID depends only on the ID
// and on which IDs already hold addresses, so the same forwards requested in
// the same order always get the same addresses. Safe for concurrent use.
type Allocator struct {
	mu    sync.Mutex
	byID  map[ID]netip.Addr
	taken map[netip.Addr]ID
}

// Addr returns id's address, allocating it on first use.
func (a *Allocator) Addr(id ID) netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.byID[id]; ok {
		return addr
	}
	if a.byID == nil {
		a.byID = map[ID]netip.Addr{}
		a.taken = map[netip.Addr]ID{}
	}
	// A collision in 2^24-odd addresses is rare; when it happens the later
	// ID moves to its next candidate, deterministically.
	for attempt := uint32(0); ; attempt++ {
		addr := Candidate(id, attempt)
		if _, used := a.taken[addr]; !used {
			a.byID[id] = addr
			a.taken[addr] = id
			return addr
		}
	}
}

// Candidates returns the first n addresses id may use, in the same order
// every time: id's own candidates (see Candidate) that no other ID holds.
// The caller tries them in order and Reserves the one it binds.
func (a *Allocator) Candidates(id ID, n int) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]netip.Addr, 0, n)
	for attempt := uint32(0); len(out) < n; attempt++ {
		addr := Candidate(id, attempt)
		if holder, used := a.taken[addr]; !used || holder == id {
			out = append(out, addr)
		}
	}
	return out
}

// Reserve gives addr to id, releasing any address id held before.
func (a *Allocator) Reserve(id ID, addr netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byID == nil {
		a.byID = map[ID]netip.Addr{}
		a.taken = map[netip.Addr]ID{}
	}
	if old, ok := a.byID[id]; ok {
		delete(a.taken, old)
	}
	a.byID[id] = addr
	a.taken[addr] = id
}

// Release frees id's address for other IDs. The same ID will get the same
// address again if it is still free.
func (a *Allocator) Release(id ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.byID[id]; ok {
		delete(a.byID, id)
		delete(a.taken, addr)
	}
}

// Candidate is id's attempt-th choice of address: 127.x.y.z with x in
// 1..254 and z in 1..254. 127.0.0.0/16 (where 127.0.0.1 and the addresses
// other tools use live), 127.255.0.0/16 and the .0 and .255 host numbers are
// never used.
func Candidate(id ID, attempt uint32) netip.Addr {
	h := fnv.New64a()
	h.Write([]byte(id.Project))
	h.Write([]byte{0})
	h.Write([]byte(id.Kind))
	h.Write([]byte{0})
	h.Write([]byte(id.Name))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], attempt)
	h.Write(n[:])
	sum := h.Sum64()
	x := byte(1 + sum%254)
	y := byte(sum >> 16)
	z := byte(1 + (sum>>32)%254)
	return netip.AddrFrom4([4]byte{127, x, y, z})
}
