package mux

import "time"

// mixedWindow is how long a session counts as carrying interactive
// traffic after an interactive stream's last small frame, and bulk
// traffic after a bulk stream's last big one. A stream that wrote a big
// frame, or more than bulkBytes, within it is bulk: its small frames (a
// window's tail, a slow source) do not count as interactive.
const mixedWindow = time.Second

// bulkBytes is how much a stream may write within mixedWindow in small
// frames and still count as interactive: sixty-four bulk streams share
// the send window in frames that are small, a ping or a query is far
// below it.
const bulkBytes = 64 << 10

// sendQueue shortens the socket's send queue to shortQueue while the
// session carries both kinds of traffic: small frames of interactive
// streams (a query, a keystroke, a ping) and big frames of bulk ones.
// Then a small frame waits behind 16 KiB in the kernel instead of
// megabytes (or longQueue, see tuneSocket); but the short queue also costs
// bulk throughput (a quarter of one stream's on loopback, in fwdbench),
// which a session of bulk streams alone, or of interactive ones alone, has
// no reason to pay. Its fields are guarded by the session's wmu.
type sendQueue struct {
	setLowat  func(short bool) // nil: not a socket that can be tuned
	short     bool
	born      time.Time
	lastBulk  time.Duration // since born; 0: never
	lastSmall time.Duration
	smallBy   *Stream // the stream of the small frame at lastSmall
}

// noteData is told of each data frame of n payload bytes that st is about
// to write, with the session's wmu held, and shortens or restores the send
// queue when the mix of traffic changes. Only those changes cost a system
// call.
func (q *sendQueue) noteData(st *Stream, n int) {
	if q.setLowat != nil && n > 0 {
		q.noteDataAt(st, n, time.Since(q.born)+1) // never 0, which means never
	}
}

// noteDataAt is noteData at now, the time since q.born.
func (q *sendQueue) noteDataAt(st *Stream, n int, now time.Duration) {
	first := st.countFrom == 0
	if first || now-st.countFrom > mixedWindow {
		st.countFrom, st.counted = now, 0
	}
	st.counted += n
	switch {
	case first && n <= smallFrame:
		// A stream's first frame is its header or the gateway's status,
		// which says nothing of what follows.
	case n > smallFrame || st.counted > bulkBytes:
		st.bulkAt = now
		q.lastBulk = now
		if q.smallBy == st {
			// Small frames then big ones on one stream (a response's
			// headers, then its body) are bulk: no mix by itself.
			q.lastSmall, q.smallBy = 0, nil
		}
	case st.bulkAt == 0 || now-st.bulkAt > mixedWindow:
		q.lastSmall, q.smallBy = now, st
	}
	mixed := q.lastBulk != 0 && q.lastSmall != 0 &&
		now-q.lastBulk <= mixedWindow && now-q.lastSmall <= mixedWindow
	if mixed != q.short {
		q.short = mixed
		q.setLowat(mixed)
	}
}
