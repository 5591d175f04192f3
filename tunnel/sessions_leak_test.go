package tunnel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
)

// What TestSessionsComeAndGoWithoutLeak runs, and what it allows.
const (
	leakCycles         = 10
	leakSessions       = 1000
	leakStreams        = 3  // per session
	leakDialers        = 16 // under the default max_handshakes_per_source (32)
	leakGoroutineSlack = 10
	leakFDSlack        = 5
	leakSettle         = 10 * time.Second // bound on waiting for the counts to return
)

// TestSessionsComeAndGoWithoutLeak: one gateway, with its default limits,
// sees 1,000 sessions come and go ten times over, each with a few streams
// echoed through, one closed by the client and the rest cut with their
// session. Goroutines and fds of the whole process (gateway, clients and
// echo server alike) must then be back where they were before, within a
// small slack, once they have had a bounded while to settle.
func TestSessionsComeAndGoWithoutLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("10 cycles of 1,000 sessions: not with -short")
	}
	f := newGateway(t, tunnel.DefaultLimits())
	// One session first, so that whatever starts once per process (the
	// echo server's accept loop, the resolver, timers) is in the baseline.
	leakCycle(t, f, 1)
	g0, fd0 := settledCounts(t, 0, 0)
	start := time.Now()
	for c := range leakCycles {
		throttled := leakCycle(t, f, leakSessions)
		g, fd := settledCounts(t, g0+leakGoroutineSlack, fd0+leakFDSlack)
		t.Logf("cycle %d: %d goroutines (%d before), %d fds (%d before), %d logins told to wait, %s so far",
			c+1, g, g0, fd, fd0, throttled, time.Since(start).Round(time.Millisecond))
	}
	g, fd := settledCounts(t, g0+leakGoroutineSlack, fd0+leakFDSlack)
	if g > g0+leakGoroutineSlack {
		t.Errorf("%d goroutines after %d cycles of %d sessions, %d before (slack %d)", g, leakCycles, leakSessions, g0, leakGoroutineSlack)
	}
	if fd > fd0+leakFDSlack {
		t.Errorf("%d fds after %d cycles of %d sessions, %d before (slack %d)", fd, leakCycles, leakSessions, fd0, leakFDSlack)
	}
	if t.Failed() {
		buf := make([]byte, 1<<20)
		t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
	}
}

// leakCycle opens n sessions, leakStreams echoed streams on each, closes
// the first stream of each itself and then every session. It returns how
// many logins the gateway told to wait (they were retried).
func leakCycle(t *testing.T, f *gatewayFixture, n int) int {
	t.Helper()
	sessions := make([]*tunnel.Session, n)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
	}()
	var next, throttled atomic.Int64
	errs := make(chan error, leakDialers)
	var wg sync.WaitGroup
	for range min(leakDialers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				s, waits, err := dialUntilLet(f)
				throttled.Add(int64(waits))
				if err == nil {
					sessions[i] = s
					err = echoStreams(s)
				}
				if err != nil {
					errs <- fmt.Errorf("session %d of %d: %w", i+1, n, err)
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return int(throttled.Load())
}

// dialUntilLet dials a session. Every session comes from 127.0.0.1 and the
// gateway charges a login as a failure until its token checks out, so that
// logins at once can be told to wait; those are retried, a bounded number
// of times, and counted.
func dialUntilLet(f *gatewayFixture) (*tunnel.Session, int, error) {
	const retries = 5
	for waits := 0; ; waits++ {
		s, err := tunnel.Dial(context.Background(), f.addr, &tunnel.ClientConfig{Token: testToken, Trust: tunnel.Trust{Fingerprint: f.fingerprint}})
		var le *tunnel.LoginError
		if err == nil || waits == retries || !errors.Is(err, tunnel.ErrThrottled) || !errors.As(err, &le) {
			return s, waits, err
		}
		time.Sleep(max(le.RetryAfter, 100*time.Millisecond))
	}
}

// echoStreams opens leakStreams streams on s, echoes a message through
// each and closes the first: the rest are left for s.Close to cut.
func echoStreams(s *tunnel.Session) error {
	for i := range leakStreams {
		st, err := s.Open(apiTarget)
		if err != nil {
			return err
		}
		if err := echoOnce(st); err != nil {
			return fmt.Errorf("stream %d: %w", i+1, err)
		}
		if i == 0 {
			st.Close()
		}
	}
	return nil
}

// echoOnce is echoRoundTrip for a goroutine other than the test's.
func echoOnce(st *tunnel.Stream) error {
	st.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("leak?")
	if _, err := st.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(st, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// settledCounts returns the process's goroutines and open fds once they are
// at most maxG and maxFD, or after leakSettle: closed sessions take their
// goroutines a moment to end. Zero limits wait for two equal readings
// instead, for a baseline.
//
// Each reading follows a garbage collection. The echo server copies with
// io.Copy between TCP connections, which splices through pipes from a
// sync.Pool: the pool's pipes (two fds each, hundreds after a cycle) are
// closed only by finalizers once collections have emptied the pool. They
// are the runtime's cache, not a leak, and without collections they would
// stay until the next cycle's allocations forced some.
func settledCounts(t *testing.T, maxG, maxFD int) (int, int) {
	t.Helper()
	deadline := time.Now().Add(leakSettle)
	lastG, lastFD := -1, -1
	for {
		runtime.GC()
		g, fd := runtime.NumGoroutine(), openFDs(t)
		settled := g <= maxG && fd <= maxFD
		if maxG == 0 {
			settled = g == lastG && fd == lastFD
		}
		if settled || time.Now().After(deadline) {
			return g, fd
		}
		lastG, lastFD = g, fd
		time.Sleep(100 * time.Millisecond)
	}
}

// openFDs counts this process's open files (the directory's own fd
// included, the same each time).
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to count fds in: %v", err)
	}
	return len(ents)
}
