package sockets

import "fmt"

// EveryAddress reports whether l is bound to a wildcard address (0.0.0.0
// or [::]) and so holds its port on every address of its family, loopback
// addresses included: nothing else can bind that port anywhere.
func (l Listener) EveryAddress() bool {
	return l.Addr.Addr().IsUnspecified()
}

// Blocks says how l stops a bind of its port, to follow "port N": "is
// held on every loopback address by pid 4242 (redis-server), listening on
// 0.0.0.0:6379", or "is already in use by pid 4242 (redis-server)". The
// forward's note and fwd doctor word it the same way.
func (l Listener) Blocks() string {
	if l.EveryAddress() {
		return fmt.Sprintf("is held on every loopback address by %s, listening on %s", l.Describe(), l.Addr)
	}
	return "is already in use by " + l.Describe()
}
