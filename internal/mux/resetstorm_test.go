package mux

import (
	"io"
	"sync"
	"testing"
	"time"
)

// TestLocalResetStormKeepsSession is a local app's reset storm: many
// short streams, each opened with one byte and reset at once by this side,
// while 50 long-lived streams stay open. Resets this side makes itself are
// no sign of a peer that does not read: the session and its long-lived
// streams must survive.
func TestLocalResetStormKeepsSession(t *testing.T) {
	cs, ss := sessions(t, nil, nil)
	ss.SetHandler(func(st *Stream) { go io.Copy(io.Discard, st) })

	var long []*Stream
	for range 50 {
		st, err := cs.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		long = append(long, st)
	}

	total, concurrency := 20000, 200
	if testing.Short() {
		total = 8000
	}
	work := make(chan struct{}, total)
	for range total {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				st, err := cs.OpenStream()
				if err != nil {
					return
				}
				st.Write([]byte{1})
				st.Reset()
			}
		}()
	}
	wg.Wait()
	if err := cs.Err(); err != nil {
		t.Fatalf("session ended during the reset storm: %v", err)
	}
	for i, st := range long {
		st.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := st.Write([]byte("y")); err != nil {
			t.Fatalf("long-lived stream %d: %v", i, err)
		}
	}
}
