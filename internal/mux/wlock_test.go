package mux

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// queued waits until l has the given waiters queued.
func queued(t *testing.T, l *writeLock, urgent, bulk int) {
	t.Helper()
	waitUntil(t, 5*time.Second, "waiters queued", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.urgent) == urgent && len(l.bulk) == bulk
	})
}

// TestWriteLockSmallFirst: a small writer that comes after bulk writers
// queued goes before them.
func TestWriteLockSmallFirst(t *testing.T) {
	var l writeLock
	l.Lock()
	order := make(chan string, 4)
	var wg sync.WaitGroup
	take := func(name string, lock func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lock()
			order <- name
			l.Unlock()
		}()
	}
	for i := range 3 {
		take(fmt.Sprint("bulk", i), l.LockBulk)
		queued(t, &l, 0, i+1)
	}
	take("small", l.Lock)
	queued(t, &l, 1, 3)
	l.Unlock()
	wg.Wait()
	if first := <-order; first != "small" {
		t.Errorf("first after unlock: %s, want small", first)
	}
}

// TestWriteLockBulkNotStarved: a stream of small writers lets a waiting
// bulk writer go after urgentRun of them.
func TestWriteLockBulkNotStarved(t *testing.T) {
	var l writeLock
	l.Lock()
	order := make(chan string, urgentRun+8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.LockBulk(); order <- "bulk"; l.Unlock() }()
	queued(t, &l, 0, 1)
	for i := range urgentRun + 4 {
		wg.Add(1)
		go func() { defer wg.Done(); l.Lock(); order <- "small"; l.Unlock() }()
		queued(t, &l, i+1, 1)
	}
	l.Unlock()
	wg.Wait()
	close(order)
	pos := 0
	for name := range order {
		if name == "bulk" {
			break
		}
		pos++
	}
	if pos > urgentRun {
		t.Errorf("bulk writer went after %d small ones, want at most %d", pos, urgentRun)
	}
}

// TestSmallStreamBesideBulk runs round trips on one stream while bulk
// streams fill the session both ways: every round trip completes while the
// bulk goes on, and every stream's bytes arrive intact and in order.
func TestSmallStreamBesideBulk(t *testing.T) {
	const bulkStreams = 4
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	cs, ss := sessions(t, nil, nil)
	go echo(ss)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, bulkStreams+1)
	for i := range bulkStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- bulkEcho(cs, byte(i), stop)
		}()
	}
	small, err := cs.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	buf := make([]byte, 3)
	for i := range rounds {
		msg := []byte{'q', byte(i), byte(i >> 8)}
		if _, err := small.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(small, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, msg) {
			t.Fatalf("round trip %d: got %q, want %q", i, buf, msg)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// bulkEcho writes 64 KiB blocks numbered in sequence until stop (at most
// 256 MiB), then half-closes and checks that the echo is the same bytes.
func bulkEcho(s *Session, seed byte, stop <-chan struct{}) error {
	st, err := s.OpenStream()
	if err != nil {
		return err
	}
	defer st.Close()
	sent := sha256.New()
	got := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		io.Copy(h, st)
		got <- h.Sum(nil)
	}()
	block := make([]byte, 64<<10)
	for n := 0; n < 4096; n++ {
		select {
		case <-stop:
			n = 4096
			continue
		default:
		}
		for j := range block {
			block[j] = seed + byte(n) + byte(j)
		}
		if _, err := st.Write(block); err != nil {
			return err
		}
		sent.Write(block)
	}
	if err := st.CloseWrite(); err != nil {
		return err
	}
	if !bytes.Equal(<-got, sent.Sum(nil)) {
		return errors.New("bulk echo differs")
	}
	return nil
}
