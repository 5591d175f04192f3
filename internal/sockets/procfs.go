package sockets

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Socket states as printed in the st column of /proc/net/{tcp,udp}.
const (
	stateListen = 0x0A // TCP_LISTEN
	stateClose  = 0x07 // TCP_CLOSE: what an unconnected UDP socket reports
)

// procFS reads the socket tables and process fds under root. The code is
// plain file parsing so that tests can point root at fixture text on any OS.
type procFS struct {
	root string
	// order is the byte order of the 32-bit words the kernel prints
	// addresses in: host order, so fixtures from a little-endian machine
	// need binary.LittleEndian.
	order binary.ByteOrder
}

// row is one socket from a /proc/net table, with the state that decides
// whether List shows it and whether it blocks a bind.
type row struct {
	Listener
	state uint8
}

// listening matches ss -tuln: a UDP socket that is connected is a client,
// not something a user would expose or look for.
func (r row) listening() bool {
	if r.Network == "tcp" {
		return r.state == stateListen
	}
	return r.state == stateClose
}

// blocksBind differs from listening for UDP because the kernel refuses a bind
// on a port any UDP socket holds, connected or not.
func (r row) blocksBind() bool {
	return r.Network == "udp" || r.state == stateListen
}

// table is one /proc/net file. The IPv6 ones are optional because a kernel
// booted with ipv6.disable=1 has none.
type table struct {
	network, file string
	optional      bool
}

var tables = []table{
	{"tcp", "tcp", false},
	{"tcp", "tcp6", true},
	{"udp", "udp", false},
	{"udp", "udp6", true},
}

// rows reads every table of network, or of both networks when it is "".
func (p procFS) rows(network string) ([]row, error) {
	var all []row
	for _, t := range tables {
		if network != "" && t.network != network {
			continue
		}
		rows, err := p.readTable(t.network, filepath.Join(p.root, "net", t.file))
		if t.optional && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	return all, nil
}

// readTable skips lines it cannot parse rather than failing, so that one odd
// line (or a future column layout) costs one socket, not the whole listing.
func (p procFS) readTable(network, path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sockets: %w", err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		if r, ok := p.parseRow(network, sc.Text()); ok {
			rows = append(rows, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sockets: reading %s: %w", path, err)
	}
	return rows, nil
}

// parseRow reads the columns sl, local_address, rem_address, st, tx:rx,
// tr:when, retrnsmt, uid, timeout, inode, which tcp, tcp6, udp and udp6 share.
func (p procFS) parseRow(network, line string) (row, bool) {
	f := strings.Fields(line)
	if len(f) < 10 {
		return row{}, false
	}
	ap, errAddr := p.parseAddrPort(f[1])
	state, errState := strconv.ParseUint(f[3], 16, 8)
	uid, errUID := strconv.ParseUint(f[7], 10, 31)
	inode, errInode := strconv.ParseUint(f[9], 10, 64)
	if errors.Join(errAddr, errState, errUID, errInode) != nil {
		return row{}, false
	}
	l := Listener{Network: network, Addr: ap, Inode: inode, UID: int(uid)}
	return row{Listener: l, state: uint8(state)}, true
}

// parseAddrPort decodes "0100007F:1538". The address is printed as 32-bit
// words each in host byte order (so 127.0.0.1 reads 0100007F on x86), the
// port as a plain big-endian number.
func (p procFS) parseAddrPort(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("sockets: no port in %q", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("sockets: port in %q: %w", s, err)
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("sockets: bad address in %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		p.order.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// list is List over p.
func (p procFS) list() ([]Listener, error) {
	rows, err := p.rows("")
	if err != nil {
		return nil, err
	}
	var ls []Listener
	want := map[uint64]struct{}{}
	for _, r := range rows {
		if !r.listening() {
			continue
		}
		ls = append(ls, r.Listener)
		if r.Inode != 0 {
			want[r.Inode] = struct{}{}
		}
	}
	p.attach(ls, p.owners(want))
	slices.SortFunc(ls, func(a, b Listener) int {
		return cmp.Or(strings.Compare(a.Network, b.Network),
			cmp.Compare(a.Addr.Port(), b.Addr.Port()),
			a.Addr.Addr().Compare(b.Addr.Addr()),
			cmp.Compare(a.Inode, b.Inode))
	})
	return ls, nil
}

// holder is Holder over p.
func (p procFS) holder(network string, ap netip.AddrPort) (Listener, bool, error) {
	base, err := baseNetwork(network)
	if err != nil {
		return Listener{}, false, err
	}
	if !ap.IsValid() {
		return Listener{}, false, fmt.Errorf("sockets: invalid address %v", ap)
	}
	target := netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	rows, err := p.rows(base)
	if err != nil {
		return Listener{}, false, err
	}
	var best Listener
	bestRank := 0
	for _, r := range rows {
		if rank := coverage(r.Addr, target); rank > bestRank && r.blocksBind() {
			best, bestRank = r.Listener, rank
		}
	}
	if bestRank == 0 {
		return Listener{}, false, nil
	}
	if best.Inode == 0 {
		return best, true, nil // no fd can point at it; don't scan for nothing
	}
	one := []Listener{best}
	p.attach(one, p.owners(map[uint64]struct{}{best.Inode: {}}))
	return one[0], true, nil
}

// coverage ranks how directly a socket bound to sock stops a bind of target,
// so that Holder names the socket bound to exactly that address ahead of a
// wildcard one. 0 means it does not. A socket on [::] is taken to be dual
// stack, Linux's and Go's default: /proc does not show IPV6_V6ONLY.
func coverage(sock, target netip.AddrPort) int {
	if sock.Port() != target.Port() {
		return 0
	}
	s, t := sock.Addr(), target.Addr()
	sameFamily := s.Is4() == t.Is4()
	switch {
	case s == t:
		return 3
	case sameFamily && (s.IsUnspecified() || t.IsUnspecified()):
		return 2
	case s.Is6() && s.IsUnspecified(), t.Is6() && t.IsUnspecified():
		return 1
	}
	return 0
}

// attach fills in PID and Program from owners, reading each comm once.
func (p procFS) attach(ls []Listener, owners map[uint64]int) {
	comms := map[int]string{}
	for i := range ls {
		pid, ok := owners[ls[i].Inode]
		if !ok {
			continue
		}
		if _, seen := comms[pid]; !seen {
			comms[pid] = p.comm(pid)
		}
		ls[i].PID, ls[i].Program = pid, comms[pid]
	}
}

// owners maps each wanted inode to the lowest pid with an fd on it: a socket
// shared by forked workers is then named by its parent, and the scan, in
// ascending pid order, can stop as soon as every inode is found.
func (p procFS) owners(want map[uint64]struct{}) map[uint64]int {
	found := make(map[uint64]int, len(want))
	for _, pid := range p.pids() {
		if len(found) == len(want) {
			break
		}
		for _, inode := range p.socketInodes(pid) {
			if _, ok := want[inode]; ok {
				if _, dup := found[inode]; !dup {
					found[inode] = pid
				}
			}
		}
	}
	return found
}

// pids lists the processes under root in ascending order. An unreadable root
// yields none: sockets are still listed, only without owners.
func (p procFS) pids() []int {
	names := readNames(p.root)
	pids := make([]int, 0, len(names))
	for _, name := range names {
		if pid, err := strconv.Atoi(name); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// socketInodes returns nothing for a process that exited during the scan or
// whose fds this user may not read, as ss does.
func (p procFS) socketInodes(pid int) []uint64 {
	dir := filepath.Join(p.root, strconv.Itoa(pid), "fd")
	var inodes []uint64
	for _, name := range readNames(dir) {
		link, err := os.Readlink(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		s, ok := strings.CutPrefix(link, "socket:[")
		s, ok2 := strings.CutSuffix(s, "]")
		if inode, err := strconv.ParseUint(s, 10, 64); ok && ok2 && err == nil {
			inodes = append(inodes, inode)
		}
	}
	return inodes
}

// comm returns "" when the process has exited since its fds were read.
func (p procFS) comm(pid int) string {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// readNames is os.ReadDir without the sort and the per-entry types, which a
// scan of every fd of every process does not need.
func readNames(dir string) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return names
}
