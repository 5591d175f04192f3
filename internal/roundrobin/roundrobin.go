// Package roundrobin dials one of a port's targets, taking turns between
// calls and moving on to the next target when one fails: what the gateway
// does for each stream, and what fwd --via ssh does for each connection.
package roundrobin

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// Cursors remember, per key (a port), where the next turn starts. The zero
// value is ready; it is safe for concurrent use.
type Cursors struct {
	next sync.Map // key -> *atomic.Uint32
}

// Dial tries addrs with dial, starting one further along on each call for
// the same key, until one connects. With every one failing it returns
// their errors joined, in the order tried: the last is the last tried.
func (c *Cursors) Dial(key any, addrs []string, dial func(addr string) (net.Conn, error)) (net.Conn, error) {
	if len(addrs) == 0 {
		return nil, errors.New("roundrobin: no target to dial")
	}
	cur, _ := c.next.LoadOrStore(key, new(atomic.Uint32))
	start := cur.(*atomic.Uint32).Add(1) - 1
	var errs []error
	for i := range len(addrs) {
		conn, err := dial(addrs[(int(start)+i)%len(addrs)])
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
