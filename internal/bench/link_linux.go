package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The link's addressing: a point-to-point pair, each end in a network
// namespace of its own, so the same addresses serve every Link at once.
var (
	LinkAddrA = netip.MustParseAddr("10.251.0.1")
	LinkAddrB = netip.MustParseAddr("10.251.0.2")
)

const (
	// linkTun is the TUN device's name in each namespace.
	linkTun = "fwdtun0"
	// linkMTU is large so that TCP sends ~64 KiB segments and the user-space
	// forwarder moves few packets per byte: it must not be the bottleneck.
	linkMTU = 65000
	// pktBufSize holds any packet the TUN device can hand over.
	pktBufSize = 64 << 10
	// smallPkt: packets up to this size (ACKs) are copied into buffers of
	// their own size; larger ones into pooled buffers of the next power of
	// two. So a queued packet holds at most twice its size, and the queue's
	// bound in bytes is close to one in packet bytes, as a router's is.
	smallPkt = 2048
	// netnsDir is where ip netns keeps its named namespaces.
	netnsDir = "/var/run/netns"
	// linkCmdTimeout bounds each ip command.
	linkCmdTimeout = 10 * time.Second
)

// Link is a delayed IP link between two network namespaces, A and B. Each
// holds a TUN device with a point-to-point address; a forwarder in this
// process reads every IP packet from one TUN device, holds it for the
// one-way delay and writes it to the other, in order. TCP across it runs
// end to end over the real round-trip time, with the kernel's own window
// autotuning: unlike DelayRelay, nothing terminates the connection midway.
// The queue per direction is bounded by MaxQueued bytes; packets beyond are
// dropped, as a router's tail drop would.
type Link struct {
	ns    [2]string
	tun   [2]*os.File
	delay time.Duration

	forwarded, dropped, writeErrs atomic.Int64
	wg                            sync.WaitGroup
	closeOnce                     sync.Once
}

var linkSeq atomic.Int64

// LinkUsable reports why a Link cannot be built here, or nil if it can
// (as far as can be told without building one).
func LinkUsable() error {
	if os.Geteuid() != 0 {
		return errors.New("not root (network namespaces and TUN devices need root)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no TUN device: %w", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("the ip command (iproute2) is not on PATH")
	}
	return nil
}

// NewLink builds the namespaces, the TUN devices and the forwarder. tcpWmemMax,
// if positive, sets the maximum of net.ipv4.tcp_wmem in both namespaces
// (the namespaces otherwise start with the host's TCP buffer settings).
// The caller must Close the link; on error nothing is left behind.
func NewLink(oneWay time.Duration, tcpWmemMax int) (l *Link, err error) {
	if err := LinkUsable(); err != nil {
		return nil, err
	}
	removeStaleLinks()
	seq := linkSeq.Add(1)
	l = &Link{delay: oneWay}
	for i, side := range []string{"a", "b"} {
		l.ns[i] = fmt.Sprintf("fwdbench-%s-%d-%d", side, os.Getpid(), seq)
	}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	addrs := [2]netip.Addr{LinkAddrA, LinkAddrB}
	for i, ns := range l.ns {
		if err := ipCmd("netns", "add", ns); err != nil {
			l.ns[i] = "" // not ours to delete
			return nil, err
		}
		if l.tun[i], err = openTun(ns); err != nil {
			return nil, err
		}
		peer := addrs[1-i]
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			{"addr", "add", addrs[i].String(), "peer", peer.String() + "/32", "dev", linkTun},
			{"link", "set", linkTun, "mtu", strconv.Itoa(linkMTU), "up"},
		} {
			if err := ipCmd(append([]string{"-n", ns}, args...)...); err != nil {
				return nil, err
			}
		}
		if tcpWmemMax > 0 {
			if err := setWmemMax(ns, tcpWmemMax); err != nil {
				return nil, err
			}
		}
	}
	l.wg.Add(2)
	go l.forward(l.tun[1], l.tun[0])
	go l.forward(l.tun[0], l.tun[1])
	return l, nil
}

// Namespace is the name of side's namespace, for ip netns exec.
func (l *Link) Namespace(s Side) string { return l.ns[s] }

// Addr is side's address on the link.
func (l *Link) Addr(s Side) netip.Addr {
	if s == SideA {
		return LinkAddrA
	}
	return LinkAddrB
}

// Stats returns, for both directions together, the packets forwarded so
// far, those dropped for a full queue, and those the receiving TUN device
// refused.
func (l *Link) Stats() (forwarded, dropped, refused int64) {
	return l.forwarded.Load(), l.dropped.Load(), l.writeErrs.Load()
}

// Close stops the forwarder, removes the TUN devices and the namespaces.
// Processes still running in a namespace keep it alive, unnamed, until they
// exit. Close may be called more than once.
func (l *Link) Close() error {
	var errs []error
	l.closeOnce.Do(func() {
		for _, f := range l.tun {
			if f != nil {
				f.Close() // ends the readers; the writers follow
			}
		}
		l.wg.Wait()
		for _, ns := range l.ns {
			if ns != "" {
				if err := ipCmd("netns", "del", ns); err != nil {
					errs = append(errs, err)
				}
			}
		}
	})
	return errors.Join(errs...)
}

// Listen listens on addr inside side's namespace. "0.0.0.0:0" takes a free
// port on both the link address and the namespace's loopback.
func (l *Link) Listen(s Side, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(l.ns[s], func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench: listen in namespace %s: %w", s, err)
	}
	return ln, nil
}

// Dialer returns a DialFunc that connects from inside side's namespace. It
// only dials loopback and the link's own addresses, which never leave the
// namespaces.
func (l *Link) Dialer(s Side) DialFunc {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !(ap.Addr().IsLoopback() || ap.Addr() == LinkAddrA || ap.Addr() == LinkAddrB) {
			return nil, fmt.Errorf("%w: %q", ErrNotLoopback, addr)
		}
		var c net.Conn
		// A literal address gives one dial on the calling goroutine, so the
		// socket is made on the thread inside the namespace.
		err = inNetns(l.ns[s], func() error {
			d := net.Dialer{Timeout: dialTimeout}
			var err error
			c, err = d.DialContext(ctx, "tcp4", addr)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("bench: dial %s from namespace %s: %w", addr, s, err)
		}
		return withContext(ctx, c), nil
	}
}

// forward moves packets from src to dst, each held for the delay. It ends
// when src is closed (or fails), after stopping its writer.
func (l *Link) forward(dst, src *os.File) {
	defer l.wg.Done()
	q := newDelayQueue(MaxQueued)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.drainPackets(q, dst)
	}()
	defer func() { <-done }()
	defer q.abort()
	buf := make([]byte, pktBufSize)
	for {
		n, err := src.Read(buf)
		if err != nil {
			// Closed, or the device is gone. A TUN read returns whole
			// packets, so there is no partial state to mind.
			return
		}
		if n == 0 {
			continue
		}
		due := time.Now().Add(l.delay)
		data := append(getPkt(n), buf[:n]...)
		queued, open := q.offer(data, due)
		if !open {
			return
		}
		if !queued {
			l.dropped.Add(1)
			putPkt(data)
		}
	}
}

// drainPackets writes each packet to dst when it is due. Write errors (a
// packet the kernel refuses) lose that packet only, as on a real link; the
// queue's abort ends the loop.
func (l *Link) drainPackets(q *delayQueue, dst *os.File) {
	for {
		c, ok := q.pop()
		if !ok {
			return
		}
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait) // at most the delay
		}
		if _, err := dst.Write(c.data); err != nil {
			if errors.Is(err, os.ErrClosed) {
				q.abort()
				return
			}
			l.writeErrs.Add(1)
		} else {
			l.forwarded.Add(1)
		}
		q.release(cap(c.data))
		putPkt(c.data)
	}
}

// pktPools[i] holds buffers of capacity smallPkt<<i, up to pktBufSize:
// at several Gbit/s, allocating each packet's buffer anew would make the
// garbage collector the link's bottleneck.
var pktPools [6]sync.Pool

// getPkt returns an empty buffer with room for n bytes.
func getPkt(n int) []byte {
	if n <= smallPkt {
		return make([]byte, 0, n)
	}
	for i := range pktPools {
		if size := smallPkt << i; n <= size {
			if b, ok := pktPools[i].Get().([]byte); ok {
				return b[:0]
			}
			return make([]byte, 0, size)
		}
	}
	return make([]byte, 0, n) // larger than the device's MTU allows
}

// putPkt returns b to its pool, if it came from one.
func putPkt(b []byte) {
	for i := range pktPools {
		if cap(b) == smallPkt<<i && cap(b) > smallPkt {
			pktPools[i].Put(b[:0])
			return
		}
	}
}

// openTun creates the TUN device inside namespace ns: a device belongs to
// the namespace of whoever opened /dev/net/tun. The file is non-blocking,
// so that Go's poller serves it and Close ends a pending Read.
func openTun(ns string) (*os.File, error) {
	var f *os.File
	err := inNetns(ns, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(linkTun)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		f = os.NewFile(uintptr(fd), "tun:"+ns)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: TUN device in %s: %w", ns, err)
	}
	return f, nil
}

// setWmemMax sets the maximum of net.ipv4.tcp_wmem inside ns, keeping the
// minimum and default.
func setWmemMax(ns string, maxBytes int) error {
	const path = "/proc/sys/net/ipv4/tcp_wmem"
	return inNetns(ns, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f := strings.Fields(string(b))
		if len(f) != 3 {
			return fmt.Errorf("%s: unexpected %q", path, b)
		}
		return os.WriteFile(path, []byte(f[0]+" "+f[1]+" "+strconv.Itoa(maxBytes)), 0o644)
	})
}

// inNetns runs f on an OS thread that has entered namespace ns. Sockets and
// devices that f creates stay in ns whichever thread uses them later. The
// thread goes back to its own namespace afterwards; if it cannot, it stays
// locked and ends with its goroutine, so no other goroutine inherits ns.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(filepath.Join(netnsDir, ns))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := f()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

func ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), linkCmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

var linkNS = regexp.MustCompile(`^fwdbench-[ab]-(\d+)-\d+$`)

// removeStaleLinks deletes namespaces left by a benchmark that was killed
// before it could clean up: those named for a process that is gone.
func removeStaleLinks() {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		m := linkNS.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		ipCmd("netns", "del", e.Name())
	}
}

// pidAlive reports whether pid runs; a zombie (killed, not yet reaped)
// counts as gone.
func pidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || !strings.HasPrefix(string(b[i+1:]), " Z")
}
