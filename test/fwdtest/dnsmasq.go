package fwdtest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DNSOptions are the answers a dnsmasq gives. Names outside them get
// NXDOMAIN (dnsmasq has no upstream servers).
type DNSOptions struct {
	// Domains maps a domain to the IPv4 address of it and every name under
	// it (dnsmasq --address=/DOMAIN/IP).
	Domains map[string]netip.Addr
	// Hosts maps names to IPv4 addresses (dnsmasq --host-record=NAME,IP).
	Hosts map[string]netip.Addr
}

// Dnsmasq is a running dnsmasq answering DNS on 127.0.0.1, UDP and TCP, on
// the same port.
type Dnsmasq struct {
	Addr string // 127.0.0.1:PORT
	Port int
	Dir  string

	proc *Process
}

// Close stops dnsmasq and waits for it.
func (d *Dnsmasq) Close() error { return d.proc.Stop() }

// StartDnsmasq runs dnsmasq in the foreground on a free port of 127.0.0.1
// with only the records in opts: no resolv.conf, no /etc/hosts, no config
// file, no DHCP.
func StartDnsmasq(ctx context.Context, dir string, opts DNSOptions, start ...StartOption) (*Dnsmasq, error) {
	bin, err := LookPath("dnsmasq")
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "dnsmasq")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("fwdtest: dnsmasq: %w", err)
	}
	// A record only this dnsmasq has tells it from anything else on the port.
	var tok [6]byte
	rand.Read(tok[:])
	probe := "probe-" + hex.EncodeToString(tok[:]) + ".testservers.invalid"
	probeAddr := netip.AddrFrom4([4]byte{192, 0, 2, 1})

	args := []string{"--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--bind-interfaces", "--listen-address=127.0.0.1", "--log-facility=-",
		// Names not given here get NXDOMAIN rather than REFUSED.
		"--address=/#/",
		"--cache-size=1000", "--dns-forward-max=1000",
		"--host-record=" + probe + "," + probeAddr.String()}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root", "--group=root")
	}
	for _, d := range sortedKeys(opts.Domains) {
		args = append(args, fmt.Sprintf("--address=/%s/%s", d, opts.Domains[d]))
	}
	for _, h := range sortedKeys(opts.Hosts) {
		args = append(args, fmt.Sprintf("--host-record=%s,%s", h, opts.Hosts[h]))
	}
	return withPorts(newStartConfig(start), 1, []string{"tcp", "udp"}, func(ports []int) (*Dnsmasq, error) {
		port := ports[0]
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		argv := append([]string{bin, "--port=" + strconv.Itoa(port), "--pid-file=" + filepath.Join(base, "dnsmasq.pid")}, args...)
		logPath := filepath.Join(base, "dnsmasq.log")
		os.Remove(logPath)
		proc, err := StartProcess("dnsmasq", ProcessOptions{LogPath: logPath, Env: baseEnv(), OwnGroup: true}, argv...)
		if err != nil {
			return nil, err
		}
		err = proc.WaitReady(ctx, func() (bool, error) {
			c, err := net.Dial("udp", addr)
			if err != nil {
				return false, nil
			}
			defer c.Close()
			got, err := LookupA(c, probe, 200*time.Millisecond)
			return err == nil && len(got) == 1 && got[0] == probeAddr, nil
		})
		if err != nil {
			return nil, err
		}
		return &Dnsmasq{Addr: addr, Port: port, Dir: base, proc: proc}, nil
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ErrNXDomain is returned by LookupA for a name the server does not know.
var ErrNXDomain = errors.New("fwdtest: no such domain")

// LookupA sends one DNS query for name's A records on conn (a connected UDP
// socket) and waits up to timeout for the matching answer. Answers with
// another query ID are skipped, so a late answer to an earlier query cannot
// be taken for this one.
func LookupA(conn net.Conn, name string, timeout time.Duration) ([]netip.Addr, error) {
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q, err := DNSQueryA(id, name)
	if err != nil {
		return nil, err
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	for range 16 {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		gotID, addrs, err := ParseDNSAnswerA(buf[:n], name)
		if err != nil {
			return nil, err
		}
		if gotID == id {
			return addrs, nil
		}
	}
	return nil, fmt.Errorf("fwdtest: no answer with id %d to query for %s", id, name)
}

// DNSQueryA builds a DNS query (recursion desired) for name's A records.
func DNSQueryA(id uint16, name string) ([]byte, error) {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x01, 0x00) // RD
	b = append(b, 0, 1, 0, 0, 0, 0, 0, 0)
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if len(label) == 0 || len(label) > 63 {
			return nil, fmt.Errorf("fwdtest: bad DNS name %q", name)
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0)
	b = append(b, 0, 1, 0, 1) // type A, class IN
	return b, nil
}

// ParseDNSAnswerA parses a DNS response to a query for name's A records and
// returns its ID and the addresses. The question must be name (a response
// to another question is an error), and a name error is ErrNXDomain.
func ParseDNSAnswerA(msg []byte, name string) (uint16, []netip.Addr, error) {
	if len(msg) < 12 {
		return 0, nil, fmt.Errorf("fwdtest: DNS response of %d bytes", len(msg))
	}
	id := binary.BigEndian.Uint16(msg[0:])
	flags := binary.BigEndian.Uint16(msg[2:])
	if flags&0x8000 == 0 {
		return id, nil, errors.New("fwdtest: DNS message is not a response")
	}
	qd, an := int(binary.BigEndian.Uint16(msg[4:])), int(binary.BigEndian.Uint16(msg[6:]))
	off := 12
	for range qd {
		qname, next, err := readDNSName(msg, off)
		if err != nil {
			return id, nil, err
		}
		if !strings.EqualFold(qname, strings.TrimSuffix(name, ".")) {
			return id, nil, fmt.Errorf("fwdtest: DNS response is for %q, not %q", qname, name)
		}
		off = next + 4
	}
	switch rcode := flags & 0xf; rcode {
	case 0:
	case 3:
		return id, nil, fmt.Errorf("%w: %s", ErrNXDomain, name)
	default:
		return id, nil, fmt.Errorf("fwdtest: DNS rcode %d for %s", rcode, name)
	}
	var addrs []netip.Addr
	for range an {
		_, next, err := readDNSName(msg, off)
		if err != nil {
			return id, nil, err
		}
		off = next
		if off+10 > len(msg) {
			return id, nil, errors.New("fwdtest: DNS answer truncated")
		}
		typ, class := binary.BigEndian.Uint16(msg[off:]), binary.BigEndian.Uint16(msg[off+2:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if off+rdlen > len(msg) {
			return id, nil, errors.New("fwdtest: DNS answer truncated")
		}
		if typ == 1 && class == 1 && rdlen == 4 {
			addrs = append(addrs, netip.AddrFrom4([4]byte(msg[off:off+4])))
		}
		off += rdlen
	}
	return id, addrs, nil
}

// readDNSName reads a possibly compressed name at off and returns it and the
// offset after it.
func readDNSName(msg []byte, off int) (string, int, error) {
	var labels []string
	end := -1
	for jumps := 0; ; {
		if off >= len(msg) {
			return "", 0, errors.New("fwdtest: DNS name truncated")
		}
		l := int(msg[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return strings.Join(labels, "."), end, nil
		case l&0xc0 == 0xc0:
			if off+1 >= len(msg) || jumps > 16 {
				return "", 0, errors.New("fwdtest: bad DNS name pointer")
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			jumps++
		default:
			if off+1+l > len(msg) {
				return "", 0, errors.New("fwdtest: DNS label truncated")
			}
			labels = append(labels, string(msg[off+1:off+1+l]))
			off += 1 + l
		}
	}
}
