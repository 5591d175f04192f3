package fwdtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	OpText   byte = 0x1
	OpBinary byte = 0x2
	OpClose  byte = 0x8
	OpPing   byte = 0x9
	OpPong   byte = 0xa
)

// maxWebSocketMessage bounds what ReadMessage accepts.
const maxWebSocketMessage = 16 << 20

const webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocket is one end of a WebSocket connection: enough of RFC 6455 for
// tests (unfragmented messages, masking, control frames), not a library.
// Reads and writes may run concurrently with each other, but not with
// themselves.
type WebSocket struct {
	conn   net.Conn
	br     *bufio.Reader
	client bool // clients mask what they send
}

// Close closes the underlying connection.
func (ws *WebSocket) Close() error { return ws.conn.Close() }

// SetDeadline sets the underlying connection's deadline.
func (ws *WebSocket) SetDeadline(t time.Time) error { return ws.conn.SetDeadline(t) }

func webSocketAccept(key string) string {
	h := sha1.Sum([]byte(key + webSocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// AcceptWebSocket completes the server side of the opening handshake on an
// HTTP/1.1 request and takes over its connection.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request) (*WebSocket, error) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", "websocket") ||
		r.Header.Get("Sec-WebSocket-Version") != "13" || key == "" {
		http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
		return nil, errors.New("fwdtest: not a WebSocket handshake")
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + webSocketAccept(key) + "\r\n\r\n"
	if _, err := io.WriteString(conn, resp); err != nil {
		conn.Close()
		return nil, err
	}
	return &WebSocket{conn: conn, br: brw.Reader}, nil
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// DialWebSocket connects to ws://addr/path (addr is host:port; host names the
// Host header) and completes the client side of the opening handshake,
// checking the server's Sec-WebSocket-Accept.
func DialWebSocket(ctx context.Context, addr, path string) (*WebSocket, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return HandshakeWebSocket(conn, addr, path)
}

// HandshakeWebSocket does the client side of the opening handshake on conn
// (a TLS connection, say), with host as the Host header; conn is closed if
// it fails.
func HandshakeWebSocket(conn net.Conn, host, path string) (*WebSocket, error) {
	addr := host
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, key)
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("fwdtest: websocket handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("fwdtest: websocket handshake: %s", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), webSocketAccept(key); got != want {
		conn.Close()
		return nil, fmt.Errorf("fwdtest: websocket handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	conn.SetDeadline(time.Time{})
	return &WebSocket{conn: conn, br: br, client: true}, nil
}

// WriteMessage sends one unfragmented message.
func (ws *WebSocket) WriteMessage(op byte, payload []byte) error {
	hdr := []byte{0x80 | op}
	maskBit := byte(0)
	if ws.client {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, maskBit|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, maskBit|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, maskBit|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	data := payload
	if ws.client {
		var mask [4]byte
		rand.Read(mask[:])
		hdr = append(hdr, mask[:]...)
		data = make([]byte, len(payload))
		for i, b := range payload {
			data[i] = b ^ mask[i%4]
		}
	}
	_, err := ws.conn.Write(append(hdr, data...))
	return err
}

// ReadMessage reads one unfragmented message. It checks that frames from a
// client are masked and frames from a server are not.
func (ws *WebSocket) ReadMessage() (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(ws.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 {
		return 0, nil, errors.New("fwdtest: fragmented WebSocket message")
	}
	if h[0]&0x70 != 0 {
		return 0, nil, errors.New("fwdtest: WebSocket RSV bits set")
	}
	op = h[0] & 0x0f
	masked := h[1]&0x80 != 0
	if masked == ws.client {
		return 0, nil, fmt.Errorf("fwdtest: WebSocket frame masked=%v from the %s", masked, map[bool]string{true: "server", false: "client"}[ws.client])
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(ws.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(ws.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > maxWebSocketMessage {
		return 0, nil, fmt.Errorf("fwdtest: WebSocket message of %d bytes", n)
	}
	var mask [4]byte
	if masked {
		if _, err := io.ReadFull(ws.br, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(ws.br, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return op, payload, nil
}
