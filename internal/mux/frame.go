// Package mux is a stream multiplexer that speaks the yamux wire format
// (github.com/hashicorp/yamux spec.md: 12-byte frame headers, data, window
// update, ping and go-away frames, SYN/ACK/FIN/RST flags, 256 KiB initial
// stream windows), built for forwarding:
//
//   - Writers write frames to the connection themselves, under one mutex: no
//     send goroutine, no queue, one Write (one TLS record run, one syscall
//     per record) per frame, header and body together. WriteHeadroom takes a
//     buffer with HeaderSize spare bytes in front of the payload, so a relay
//     that reads into such a buffer sends it without copying.
//   - Small frames go first: a writer of a frame up to 16 KiB (control
//     frames, interactive data) waits for at most the one write under way,
//     never behind every bulk writer of the session (writeLock). On Linux
//     the TCP socket keeps little queued (a receive buffer sized for a
//     short path's round trip, and TCP_NOTSENT_LOWAT cut to 16 KiB while
//     interactive and bulk frames share the session: sendQueue), so the
//     order the session picks is the order on the wire.
//   - The receive loop hands a stream's data to a Sink (Stream.Push): it
//     writes straight into the destination socket without blocking, and
//     only when the socket is full does a goroutine take over until the
//     backlog is written. A stream without a backlog holds no buffer and no
//     goroutine.
//   - Receive windows start at the spec's 256 KiB and grow (doubling, up to
//     Config.MaxStreamWindow) when a stream consumes its window in less than
//     two round trips, measured by pings; the extra window granted across a
//     session is capped by Config.MaxSessionWindow.
//   - The receive loop never writes to the connection (it could deadlock
//     against a peer doing the same): window updates, ping answers and
//     resets it needs are queued for a small control writer goroutine.
//     That queue is bounded whatever the peer does: one entry per stream
//     (window deltas merged), only the latest ping answer; a peer that
//     makes resets pile up without reading ends the session (ErrProtocol).
//   - What a stream holds is bounded by its window: small frames are packed
//     into the spare room of the last buffer queued, so buffers never hold
//     much more than twice the bytes waiting, however the peer cuts its
//     frames. Config.MaxStreams caps the streams a peer may have open.
//
// Any yamux implementation can be the peer.
package mux

import (
	"encoding/binary"
	"errors"
)

// HeaderSize is the size of a frame header: version(1) type(1) flags(2)
// stream id(4) length(4), big endian.
const HeaderSize = 12

const (
	protoVersion = 0

	typeData         = 0
	typeWindowUpdate = 1
	typePing         = 2
	typeGoAway       = 3

	flagSYN = 1
	flagACK = 2
	flagFIN = 4
	flagRST = 8

	// initialWindow is every stream's window when it opens, per the spec.
	initialWindow = 256 << 10

	// maxChunk is the most of a frame body read into one buffer; larger
	// bodies (a peer may send up to its whole window in one frame) are
	// delivered in pieces.
	maxChunk = 64 << 10
)

// Errors returned by sessions and streams.
var (
	ErrSessionClosed = errors.New("mux: session closed")
	ErrStreamClosed  = errors.New("mux: stream closed")
	ErrReset         = errors.New("mux: stream reset")
	ErrKeepAlive     = errors.New("mux: keepalive timeout")
	ErrProtocol      = errors.New("mux: protocol error")
	ErrGoAway        = errors.New("mux: peer is going away")
)

func putHeader(b []byte, typ byte, flags uint16, id, length uint32) {
	b[0] = protoVersion
	b[1] = typ
	binary.BigEndian.PutUint16(b[2:4], flags)
	binary.BigEndian.PutUint32(b[4:8], id)
	binary.BigEndian.PutUint32(b[8:12], length)
}
