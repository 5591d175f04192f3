package mux

import "time"

// streamState is where a stream is in its close handshake, as yamux's
// streamState. Every change of it goes through Stream.transition, which
// asks next for the new state and the work it entails.
//
// It replaces the booleans localFin, remoteFin and removed, and err as a
// flag: err now only says why a stream in stateReset was reset (ErrReset
// or ErrSessionClosed), set by transition as it enters that state.
//
// readClosed (Close called: what arrives is discarded, Read fails) stays a
// field of its own, a second dimension changed only by transition (evClose):
// Close can come in any state and outlives the changes after it (the peer's
// FIN or a reset after Close still discard), so as states it would double
// them.
//
// Fields that stay, as they are about something else than the handshake:
// synPending and ackPending (under the session's wmu: which frame carries
// SYN or ACK), ctlQueued, ctlRST and ctlDelta (under ctlMu: the control
// writer's queue), writing and finOwed (when a FIN already decided goes
// out: after a data frame being written), and sinkEnd, draining and
// finPassed (who writes to the sink, and whether it was ended: they change
// on sink writes, not on frames, and would multiply every state).
type streamState uint8

const (
	stateOpen         streamState = iota
	stateLocalClosed              // our FIN sent (or owed by the writer)
	stateRemoteClosed             // the peer's FIN received
	// stateClosed has both FINs in, and the stream is about to be
	// forgotten (evForget, once the goroutine that saw the second FIN has
	// done the rest of its work: sent the FIN, passed the peer's on to a
	// sink). A reset meanwhile still applies, as it always did: the peer's
	// RST read while CloseWrite writes the FIN, a Reset from a sink's done
	// callback, the session ending.
	stateClosed
	stateForgotten // closed, and out of the session: nothing applies any more
	stateReset     // RST sent or received, or the session ended: err says which
)

// finSent reports whether our FIN is sent or owed: writes fail.
func (s streamState) finSent() bool {
	return s == stateLocalClosed || s == stateClosed || s == stateForgotten
}

// finRecv reports whether the peer's FIN arrived: reads end with EOF.
func (s streamState) finRecv() bool {
	return s == stateRemoteClosed || s == stateClosed || s == stateForgotten
}

// peerDone reports whether the peer will send nothing more: its FIN came,
// or the stream was reset.
func (s streamState) peerDone() bool { return s.finRecv() || s == stateReset }

// event is what moves a stream from one state to another.
type event uint8

const (
	evCloseWrite event = iota // CloseWrite: our FIN
	evPeerFIN                 // the peer's FIN
	evClose                   // Close, after its CloseWrite: stop reading
	evReset                   // Reset, the CloseTimeout, a refused stream: we send RST
	evPeerReset               // the peer's RST
	evSessionEnd              // the session ended
	evForget                  // both FINs in and handled: the session forgets it
	numEvents
)

// err is why a stream reset by ev fails.
func (ev event) err() error {
	if ev == evSessionEnd {
		return ErrSessionClosed
	}
	return ErrReset
}

// action is work a transition asks for. Those marked "locked" are done by
// transition itself, with st.mu held; run does the others, in the order
// they are listed, once st.mu is released.
type action uint16

const (
	actDiscard     action = 1 << iota // locked: drop what was received, unless a drain goroutine has it
	actDropPushed                     // locked: drop a pushed stream's backlog, unless draining
	actLinger                         // locked: reset the stream if no FIN comes within CloseTimeout
	actStopLinger                     // locked: the FIN came
	actPeerDone                       // run OnPeerDone's fn
	actNotifyRead                     // wake a waiting Read
	actNotifyWrite                    // wake a Write waiting for window: it gives up
	actSendFIN                        // write our FIN (transition leaves it to a writer mid-frame)
	actSinkFIN                        // pass the peer's FIN on to the sink (transition leaves it to a backlog)
	actEndSink                        // end the sink with err
	actQueueRST                       // queue our RST; the control writer removes the stream then
	actFinish                         // both FINs in: evForget
	actRemove                         // take the stream out of the session

	lockedActs = actDiscard | actDropPushed | actLinger | actStopLinger
)

// next is the state a stream in from goes to on ev, and the work that
// takes. An event that does not apply (a FIN after a reset, a second
// CloseWrite, anything once forgotten) leaves the state as it is and asks
// for nothing.
func next(from streamState, ev event) (streamState, action) {
	switch ev {
	case evCloseWrite:
		switch from {
		case stateOpen:
			return stateLocalClosed, actNotifyWrite | actSendFIN
		case stateRemoteClosed:
			return stateClosed, actNotifyWrite | actSendFIN | actFinish
		}
	case evPeerFIN:
		const got = actPeerDone | actNotifyRead | actSinkFIN
		switch from {
		case stateOpen:
			return stateRemoteClosed, got
		case stateLocalClosed:
			return stateClosed, got | actFinish
		}
	case evClose:
		// Close comes in any state (transition makes a second one a no-op).
		act := actDiscard | actNotifyRead
		if from == stateOpen || from == stateLocalClosed {
			act |= actLinger
		}
		return from, act
	case evReset, evPeerReset, evSessionEnd:
		if from == stateForgotten || from == stateReset {
			break
		}
		act := actDropPushed | actPeerDone | actNotifyRead | actNotifyWrite | actEndSink
		if ev == evReset {
			act |= actQueueRST
		} else {
			act |= actRemove
		}
		return stateReset, act
	case evForget:
		switch from {
		case stateClosed:
			return stateForgotten, actStopLinger | actRemove
		case stateReset:
			// Reset while closed: forgotten now all the same (remove
			// is idempotent), even if its RST is still queued.
			return stateReset, actStopLinger | actRemove
		}
	}
	return from, 0
}

// effects is what run has left to do after a transition.
type effects struct {
	act      action
	peerDone func() // for actPeerDone; nil if none was set
	err      error  // for actEndSink
}

// transition moves the stream on by ev and does the locked part of the
// work; run does the rest once st.mu is released (it writes frames and
// calls out). st.mu held.
func (st *Stream) transition(ev event) effects {
	if ev == evClose {
		if st.readClosed {
			return effects{} // Close called before
		}
		st.readClosed = true
	}
	to, act := next(st.state, ev)
	if to == stateReset && st.state != stateReset {
		st.err = ev.err()
	}
	st.state = to
	return st.lockedEffects(act)
}

// lockedEffects does the locked actions of act and drops those the
// stream's other fields leave to another goroutine. st.mu held.
func (st *Stream) lockedEffects(act action) effects {
	if act&actSendFIN != 0 && st.writing {
		st.finOwed = true // the writer sends it after its frame
		act &^= actSendFIN
	}
	if act&actSinkFIN != 0 && (st.sink == nil || st.draining || len(st.q) > 0 || st.sinkEnd) {
		act &^= actSinkFIN // Push or drain passes it on after the backlog
	}
	// Without a sink, what was received stays readable until Close.
	if act&actDropPushed != 0 && st.sink != nil && !st.draining {
		st.releaseQueue()
	}
	if act&actDiscard != 0 && !st.draining {
		st.releaseQueue()
	}
	if act&actLinger != 0 {
		st.linger = time.AfterFunc(st.s.cfg.CloseTimeout, func() { st.Reset() })
	}
	if act&actStopLinger != 0 && st.linger != nil {
		st.linger.Stop()
	}
	e := effects{act: act &^ lockedActs, err: st.err}
	if act&actPeerDone != 0 {
		e.peerDone = st.takePeerDoneLocked()
	}
	return e
}

// run does what a transition left to do, st.mu not held, and returns the
// error of writing our FIN.
func (st *Stream) run(e effects) error {
	if e.peerDone != nil {
		// First: for the peer's FIN or RST this is the receive loop,
		// which reads no further frame until fn returns (OnPeerDone).
		e.peerDone()
	}
	if e.act&actNotifyRead != 0 {
		notify(st.readCh)
	}
	if e.act&actNotifyWrite != 0 {
		notify(st.writeCh)
	}
	var err error
	if e.act&actSendFIN != 0 {
		err = st.sendFIN()
	}
	if e.act&actSinkFIN != 0 {
		st.finishSink()
	}
	if e.act&actEndSink != 0 {
		st.endSink(e.err)
	}
	if e.act&actQueueRST != 0 {
		// The stream stays counted until the control writer has sent its
		// RST (it removes it then): resets this side makes itself, however
		// fast, are owed for streams that exist, never a backlog.
		st.s.queueStreamCtl(st, 0, true)
	}
	if e.act&actFinish != 0 {
		st.apply(evForget)
	}
	if e.act&actRemove != 0 {
		st.remove()
	}
	return err
}

// apply runs the transition for ev and its work.
func (st *Stream) apply(ev event) error {
	st.mu.Lock()
	e := st.transition(ev)
	st.mu.Unlock()
	return st.run(e)
}
