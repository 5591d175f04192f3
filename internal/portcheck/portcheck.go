// Package portcheck audits a gateway's catalog from where the gateway
// runs: it dials every target (TCP connect, a best-effort UDP probe)
// concurrently within a bound, each within a timeout, says whether it
// answered, refused or stayed silent and how fast, and for a target that
// refuses, whether its host answers on a nearby common port instead
// ("config says 3000, app says 8080"). Audit flags what a catalog gets
// wrong without dialling anything.
package portcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Target is one target of one catalog port.
type Target struct {
	Project  string `json:"project"`
	Resource string `json:"resource"` // "shop/api", "shop/addon:db"
	PortName string `json:"portName,omitempty"`
	Port     uint16 `json:"port"`    // the catalog's number
	Network  string `json:"network"` // "tcp" or "udp"
	Address  string `json:"target"`  // host:port, what the gateway dials
}

// Status is what dialling a target found.
type Status string

// The statuses. Only Reachable, Answered and NoAnswer count as reachable:
// UDP has no handshake, so a silent UDP port may be open.
const (
	Reachable   Status = "reachable"   // TCP connected
	Answered    Status = "answered"    // UDP: a reply came back
	NoAnswer    Status = "no answer"   // UDP: no reply and no refusal; open or filtered
	Refused     Status = "refused"     // TCP RST, or UDP's ICMP port unreachable
	TimedOut    Status = "timed out"   // no answer at all within the timeout
	Unreachable Status = "unreachable" // no route, no such host, ...
)

// Failed reports whether the status means the gateway cannot reach the
// target.
func (s Status) Failed() bool {
	return s == Refused || s == TimedOut || s == Unreachable
}

// Result is what one target's check found.
type Result struct {
	Target
	Status  Status        `json:"status"`
	Latency time.Duration `json:"-"`         // to connect (TCP) or to the reply (UDP)
	Millis  float64       `json:"latencyMs"` // Latency, for JSON readers
	Error   string        `json:"error,omitempty"`
	// Hint is for a refused TCP target whose host answers elsewhere:
	// "listening on another port? (8080 answers)".
	Hint string `json:"hint,omitempty"`
}

// Options bound a check.
type Options struct {
	Timeout     time.Duration // per dial; zero means 3s
	Concurrency int           // dials at once; zero means 32
}

// nearby are the ports a server that refuses its configured one is most
// often listening on instead, besides the neighbours of that one.
var nearby = []uint16{80, 443, 3000, 3001, 4000, 5000, 5173, 8000, 8080, 8081, 8443, 8888, 9000, 9090}

// Check dials every target and returns their results in the targets'
// order. It returns when every dial has answered or timed out.
func Check(ctx context.Context, targets []Target, opts Options) []Result {
	c := newChecker(opts)
	results := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.check(ctx, t)
		}()
	}
	wg.Wait()
	return results
}

type checker struct {
	timeout time.Duration
	slots   chan struct{} // one per dial in flight, whoever dials
}

func newChecker(o Options) *checker {
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	return &checker{timeout: o.Timeout, slots: make(chan struct{}, o.Concurrency)}
}

func (c *checker) check(ctx context.Context, t Target) Result {
	r := Result{Target: t}
	if t.Network == "udp" {
		r.Status, r.Latency, r.Error = c.probeUDP(ctx, t.Address)
	} else {
		r.Status, r.Latency, r.Error = c.dialTCP(ctx, t.Address, c.timeout)
	}
	if r.Status == Refused && t.Network != "udp" {
		r.Hint = c.elsewhere(ctx, t.Address)
	}
	r.Millis = float64(r.Latency.Microseconds()) / 1000
	return r
}

// acquire waits for a slot; false if ctx ended first.
func (c *checker) acquire(ctx context.Context) bool {
	select {
	case c.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *checker) release() { <-c.slots }

func (c *checker) dialTCP(ctx context.Context, addr string, timeout time.Duration) (Status, time.Duration, string) {
	if !c.acquire(ctx) {
		return TimedOut, 0, ctx.Err().Error()
	}
	defer c.release()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	took := time.Since(start)
	if err != nil {
		switch s := classify(err, dctx); s {
		case TimedOut:
			return s, took, fmt.Sprintf("no answer in %s", timeout)
		case Refused:
			return s, took, "connection refused: nothing listens there"
		default:
			return s, took, err.Error()
		}
	}
	conn.Close()
	return Reachable, took, ""
}

// probeUDP sends one datagram that a server of the port's usual kind
// answers (a DNS query to port 53, an empty datagram elsewhere) and waits
// for a reply or an ICMP port unreachable.
func (c *checker) probeUDP(ctx context.Context, addr string) (Status, time.Duration, string) {
	if !c.acquire(ctx) {
		return TimedOut, 0, ctx.Err().Error()
	}
	defer c.release()
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "udp", addr)
	if err != nil {
		return classify(err, dctx), 0, err.Error()
	}
	defer conn.Close()
	deadline, _ := dctx.Deadline()
	conn.SetDeadline(deadline)
	start := time.Now()
	if _, err := conn.Write(udpProbe(addr)); err != nil {
		return classify(err, dctx), time.Since(start), err.Error()
	}
	buf := make([]byte, 512)
	_, err = conn.Read(buf)
	took := time.Since(start)
	switch s := classify(err, dctx); {
	case err == nil:
		return Answered, took, ""
	case s == TimedOut:
		return NoAnswer, took, fmt.Sprintf("no reply in %s: open or filtered; UDP cannot tell", c.timeout)
	case s == Refused:
		return s, took, "port unreachable (ICMP): nothing listens there"
	default:
		return s, took, err.Error()
	}
}

// udpProbe is a DNS query for the root's NS records for port 53, which
// any DNS server answers; elsewhere an empty datagram, to which a closed
// port answers with an ICMP port unreachable.
func udpProbe(addr string) []byte {
	if _, port, _ := net.SplitHostPort(addr); port == "53" || port == "5353" {
		return []byte{0x66, 0x77, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1}
	}
	return nil
}

func classify(err error, ctx context.Context) Status {
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.As(err, &dnsErr):
		return Unreachable // even when the resolver timed out: the target itself was never tried
	case ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return TimedOut
	}
	return Unreachable
}

// elsewhere dials the refusing target's host on the ports its server is
// likely on instead, and names those that answer, nearest first.
func (c *checker) elsewhere(ctx context.Context, addr string) string {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	n, _ := strconv.Atoi(portStr)
	port := uint16(n)
	candidates := slices.DeleteFunc(slices.Clone(nearby), func(p uint16) bool { return p == port })
	for _, p := range []int{n - 1, n + 1} {
		if p > 0 && p < 65536 && !slices.Contains(candidates, uint16(p)) {
			candidates = append(candidates, uint16(p))
		}
	}
	answering := make([]bool, len(candidates))
	timeout := min(c.timeout, time.Second) // the host is up: open ports answer at once
	var wg sync.WaitGroup
	for i, p := range candidates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, _ := c.dialTCP(ctx, net.JoinHostPort(host, strconv.Itoa(int(p))), timeout)
			answering[i] = s == Reachable
		}()
	}
	wg.Wait()
	var found []uint16
	for i, p := range candidates {
		if answering[i] {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return ""
	}
	slices.SortFunc(found, func(a, b uint16) int { return distance(a, port) - distance(b, port) })
	names := make([]string, 0, 3)
	for _, p := range found[:min(len(found), 3)] {
		names = append(names, strconv.Itoa(int(p)))
	}
	verb := "answers"
	if len(names) > 1 {
		verb = "answer"
	}
	return fmt.Sprintf("listening on another port? (%s %s)", joinAnd(names), verb)
}

func distance(a, b uint16) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func joinAnd(s []string) string {
	switch len(s) {
	case 1:
		return s[0]
	case 2:
		return s[0] + " and " + s[1]
	}
	return s[0] + ", " + joinAnd(s[1:])
}
