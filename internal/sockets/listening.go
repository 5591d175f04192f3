package sockets

import (
	"cmp"
	"slices"
)

// listeningTCP is ListeningTCP over p. It reads only the two TCP tables, so
// that a caller polling several times a second does not pay for the walk of
// every process's fds that List makes.
func (p procFS) listeningTCP() ([]Listener, error) {
	rows, err := p.rows("tcp")
	if err != nil {
		return nil, err
	}
	var ls []Listener
	for _, r := range rows {
		if r.listening() {
			ls = append(ls, r.Listener)
		}
	}
	slices.SortFunc(ls, func(a, b Listener) int {
		return cmp.Or(cmp.Compare(a.Addr.Port(), b.Addr.Port()),
			a.Addr.Addr().Compare(b.Addr.Addr()),
			cmp.Compare(a.Inode, b.Inode))
	})
	return ls, nil
}

// fillOwners is FillOwners over p.
func (p procFS) fillOwners(ls []Listener) {
	want := map[uint64]struct{}{}
	for _, l := range ls {
		if l.Inode != 0 {
			want[l.Inode] = struct{}{}
		}
	}
	if len(want) == 0 {
		return // no fd can point at a socket without an inode
	}
	p.attach(ls, p.owners(want))
}
