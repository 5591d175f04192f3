package mux

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

var stateNames = [...]string{"open", "localClosed", "remoteClosed", "closed", "forgotten", "reset"}

var eventNames = [...]string{"CloseWrite", "peerFIN", "Close", "Reset", "peerReset", "sessionEnd", "forget"}

// TestStreamTransitions is every (state, event) pair of next: the state it
// leads to and the work it asks for.
func TestStreamTransitions(t *testing.T) {
	const (
		open, local, remote = stateOpen, stateLocalClosed, stateRemoteClosed
		closed, gone, reset = stateClosed, stateForgotten, stateReset

		fin    = actNotifyWrite | actSendFIN                                               // our FIN
		got    = actPeerDone | actNotifyRead | actSinkFIN                                  // the peer's FIN
		stop   = actDiscard | actNotifyRead                                                // Close
		abort  = actDropPushed | actPeerDone | actNotifyRead | actNotifyWrite | actEndSink // any reset
		forget = actStopLinger | actRemove
	)
	tests := []struct {
		from streamState
		ev   event
		to   streamState
		act  action
	}{
		{open, evCloseWrite, local, fin},
		{local, evCloseWrite, local, 0}, // second CloseWrite
		{remote, evCloseWrite, closed, fin | actFinish},
		{closed, evCloseWrite, closed, 0},
		{gone, evCloseWrite, gone, 0},
		{reset, evCloseWrite, reset, 0}, // CloseWrite returns the reset's error

		{open, evPeerFIN, remote, got},
		{local, evPeerFIN, closed, got | actFinish},
		{remote, evPeerFIN, remote, 0}, // a second FIN
		{closed, evPeerFIN, closed, 0},
		{gone, evPeerFIN, gone, 0},
		{reset, evPeerFIN, reset, 0}, // a FIN after a RST

		// Close comes after its CloseWrite, so never in open or
		// remoteClosed; it lingers while the peer's FIN is to come.
		{open, evClose, open, stop | actLinger},
		{local, evClose, local, stop | actLinger},
		{remote, evClose, remote, stop},
		{closed, evClose, closed, stop},
		{gone, evClose, gone, stop},
		{reset, evClose, reset, stop},

		{open, evReset, reset, abort | actQueueRST},
		{local, evReset, reset, abort | actQueueRST},
		{remote, evReset, reset, abort | actQueueRST},
		{closed, evReset, reset, abort | actQueueRST}, // before it is forgotten
		{gone, evReset, gone, 0},
		{reset, evReset, reset, 0},

		{open, evPeerReset, reset, abort | actRemove},
		{local, evPeerReset, reset, abort | actRemove},
		{remote, evPeerReset, reset, abort | actRemove},
		{closed, evPeerReset, reset, abort | actRemove},
		{gone, evPeerReset, gone, 0},
		{reset, evPeerReset, reset, 0}, // the peer's RST after ours

		{open, evSessionEnd, reset, abort | actRemove},
		{local, evSessionEnd, reset, abort | actRemove},
		{remote, evSessionEnd, reset, abort | actRemove},
		{closed, evSessionEnd, reset, abort | actRemove},
		{gone, evSessionEnd, gone, 0},
		{reset, evSessionEnd, reset, 0},

		// Only a stream with both FINs in is forgotten, or one reset
		// between its second FIN and then.
		{open, evForget, open, 0},
		{local, evForget, local, 0},
		{remote, evForget, remote, 0},
		{closed, evForget, gone, forget},
		{gone, evForget, gone, 0},
		{reset, evForget, reset, forget},
	}
	seen := map[[2]int]bool{}
	for _, tt := range tests {
		seen[[2]int{int(tt.from), int(tt.ev)}] = true
		to, act := next(tt.from, tt.ev)
		if to != tt.to || act != tt.act {
			t.Errorf("%s on %s: %s, %#x; want %s, %#x", stateNames[tt.from], eventNames[tt.ev],
				stateNames[to], act, stateNames[tt.to], tt.act)
		}
	}
	for s := range len(stateNames) {
		for ev := range int(numEvents) {
			if !seen[[2]int{s, ev}] {
				t.Errorf("%s on %s: not in the table", stateNames[s], eventNames[ev])
			}
		}
	}
}

// idle is a stream of a session that never runs, for transitions alone.
func idle() *Stream {
	return newStream(&Session{cfg: (&Config{}).withDefaults()}, 1)
}

// TestTransitionLockedWork checks what transition does with st.mu held
// beyond next: the error a reset keeps, Close once, a FIN owed by the
// writer, OnPeerDone's fn taken once, a sink FIN left to the backlog.
func TestTransitionLockedWork(t *testing.T) {
	st := idle()
	st.transition(evReset)
	st.transition(evSessionEnd)
	if st.state != stateReset || st.err != ErrReset {
		t.Errorf("reset, then session end: %s, %v; want reset, ErrReset", stateNames[st.state], st.err)
	}
	if e := st.transition(evCloseWrite); e.act != 0 || st.err != ErrReset {
		t.Errorf("CloseWrite after reset: %#x, %v", e.act, st.err)
	}

	st = idle()
	st.transition(evSessionEnd)
	if st.err != ErrSessionClosed {
		t.Errorf("session end: %v, want ErrSessionClosed", st.err)
	}

	st = idle()
	st.writing = true
	if e := st.transition(evCloseWrite); e.act&actSendFIN != 0 || !st.finOwed {
		t.Errorf("CloseWrite mid-frame: act %#x, finOwed %v; want the FIN owed to the writer", e.act, st.finOwed)
	}
	e := st.transition(evClose)
	if !st.readClosed || st.linger == nil || e.act&actNotifyRead == 0 {
		t.Errorf("Close: readClosed %v, linger %v, act %#x", st.readClosed, st.linger != nil, e.act)
	}
	timer := st.linger
	if e := st.transition(evClose); e.act != 0 || st.linger != timer {
		t.Errorf("second Close: act %#x, new timer %v; want nothing", e.act, st.linger != timer)
	}
	timer.Stop()

	st = idle()
	calls := 0
	st.OnPeerDone(func() { calls++ })
	if fn := st.transition(evPeerFIN).peerDone; fn != nil {
		fn()
	}
	if e := st.transition(evPeerReset); e.peerDone != nil {
		t.Error("OnPeerDone's fn handed out twice")
	}
	if calls != 1 {
		t.Errorf("OnPeerDone's fn ran %d times", calls)
	}

	st = idle()
	st.sink = &sliceSink{closed: make(chan struct{})}
	st.queueLocked([]byte("backlog"))
	if e := st.transition(evPeerFIN); e.act&actSinkFIN != 0 {
		t.Error("the peer's FIN passed to the sink ahead of its backlog")
	}
	st.releaseQueue()
}

// brokenSink takes data but fails to pass the FIN on, as a socket already
// reset does.
type brokenSink struct{}

func (brokenSink) TryWrite(b []byte) (int, error) { return len(b), nil }
func (brokenSink) Write(b []byte) (int, error)    { return len(b), nil }
func (brokenSink) CloseWrite() error              { return errors.New("broken") }

// TestResetWhileClosedApplies resets a stream from its sink's done callback,
// which the receive loop calls on the peer's FIN after ours, before the
// stream is forgotten (as internal/relay aborts a stream whose socket
// failed): the reset still applies, RST and all.
func TestResetWhileClosedApplies(t *testing.T) {
	s, peer := rawPeer(t, nil)
	rsts := make(chan uint32, 1)
	go func() {
		var hdr [HeaderSize]byte
		for {
			if _, err := io.ReadFull(peer, hdr[:]); err != nil {
				return
			}
			if binary.BigEndian.Uint16(hdr[2:4])&flagRST != 0 {
				rsts <- binary.BigEndian.Uint32(hdr[4:8])
			}
		}
	}()
	peer.Write(frame(typeWindowUpdate, flagSYN, 1, 0))
	st, err := s.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	st.Push(brokenSink{}, func(err error) {
		if err != nil {
			st.Reset()
		}
		done <- err
	})
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	peer.Write(frame(typeWindowUpdate, flagFIN, 1, 0))
	if err := <-done; err == nil {
		t.Fatal("sink ended without its error")
	}
	select {
	case id := <-rsts:
		if id != 1 {
			t.Fatalf("RST for stream %d", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no RST")
	}
	if _, err := st.Write([]byte("x")); !errors.Is(err, ErrReset) {
		t.Fatalf("Write: %v, want ErrReset", err)
	}
	waitUntil(t, 5*time.Second, "the stream to be forgotten", func() bool { return s.NumStreams() == 0 })
}
