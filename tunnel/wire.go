package tunnel

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// Version is the control protocol version this package speaks.
const Version = 1

// Limits on what a peer may send, so that a hostile peer cannot make the
// other side allocate without bound.
const (
	MaxControlFrame = 1 << 20  // one control message from a client
	MaxCatalogFrame = 64 << 20 // one from the gateway: a welcome or push holds the whole catalog
	MaxName         = 255      // a project, service or addon name in a stream header
	maxStatusText   = 1024
)

const (
	headerMagic   = 'F'
	headerVersion = 1

	netTCP = 1
	netUDP = 2

	kindService = 1
	kindAddon   = 2
)

// Errors from decoding what a peer sent.
var (
	ErrBadHeader    = errors.New("tunnel: bad stream header")
	ErrFrameTooLong = errors.New("tunnel: control frame too long")
)

// Target names what a data stream connects to: one port of one catalog
// resource. It never carries a network address.
type Target struct {
	ID      catalog.ID
	Network string // "tcp" or "udp"
	Port    uint16
}

// String returns "project/name tcp/8080", the form used in log lines.
func (t Target) String() string {
	return fmt.Sprintf("%s %s/%d", t.ID, t.Network, t.Port)
}

// AppendHeader appends t's stream header to b.
func AppendHeader(b []byte, t Target) ([]byte, error) {
	if n := len(t.ID.Project); n == 0 || n > MaxName {
		return b, fmt.Errorf("%w: project name length %d", ErrBadHeader, n)
	}
	if n := len(t.ID.Name); n == 0 || n > MaxName {
		return b, fmt.Errorf("%w: name length %d", ErrBadHeader, n)
	}
	network, kind := byte(netTCP), byte(kindService)
	switch t.Network {
	case "tcp":
	case "udp":
		network = netUDP
	default:
		return b, fmt.Errorf("%w: network %q", ErrBadHeader, t.Network)
	}
	switch t.ID.Kind {
	case catalog.Service:
	case catalog.Addon:
		kind = kindAddon
	default:
		return b, fmt.Errorf("%w: kind %q", ErrBadHeader, t.ID.Kind)
	}
	b = append(b, headerMagic, headerVersion, network, kind, byte(t.Port>>8), byte(t.Port))
	b = append(b, byte(len(t.ID.Project)))
	b = append(b, t.ID.Project...)
	b = append(b, byte(len(t.ID.Name)))
	return append(b, t.ID.Name...), nil
}

// ReadHeader reads one stream header. It reads at most 8+2*MaxName bytes.
func ReadHeader(r io.Reader) (Target, error) {
	var fixed [7]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return Target{}, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	if fixed[0] != headerMagic || fixed[1] != headerVersion {
		return Target{}, fmt.Errorf("%w: magic %#x version %d", ErrBadHeader, fixed[0], fixed[1])
	}
	var t Target
	switch fixed[2] {
	case netTCP:
		t.Network = "tcp"
	case netUDP:
		t.Network = "udp"
	default:
		return Target{}, fmt.Errorf("%w: network %d", ErrBadHeader, fixed[2])
	}
	switch fixed[3] {
	case kindService:
		t.ID.Kind = catalog.Service
	case kindAddon:
		t.ID.Kind = catalog.Addon
	default:
		return Target{}, fmt.Errorf("%w: kind %d", ErrBadHeader, fixed[3])
	}
	t.Port = binary.BigEndian.Uint16(fixed[4:6])
	project, err := readName(r, fixed[6])
	if err != nil {
		return Target{}, err
	}
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return Target{}, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	name, err := readName(r, n[0])
	if err != nil {
		return Target{}, err
	}
	t.ID.Project, t.ID.Name = project, name
	return t, nil
}

func readName(r io.Reader, n byte) (string, error) {
	if n == 0 {
		return "", fmt.Errorf("%w: empty name", ErrBadHeader)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	return string(b), nil
}

// Status is the gateway's answer to a stream header.
type Status byte

// The statuses a gateway answers with.
const (
	StatusOK Status = iota
	StatusNotFound
	StatusForbidden
	StatusDialFailed
	StatusLimit
	StatusBadHeader
)

// StreamError is a non-OK status with the gateway's message.
type StreamError struct {
	Status  Status
	Message string
}

func (e *StreamError) Error() string { return e.Message }

// Is lets errors.Is match a StreamError by status alone.
func (e *StreamError) Is(target error) bool {
	t, ok := target.(*StreamError)
	return ok && t.Status == e.Status && t.Message == ""
}

// ErrDialFailed matches (with errors.Is) a stream the gateway could not
// connect to its target.
var ErrDialFailed error = &StreamError{Status: StatusDialFailed}

// appendStatus appends a status reply to b.
func appendStatus(b []byte, s Status, msg string) []byte {
	b = append(b, byte(s))
	if s == StatusOK {
		return b
	}
	if len(msg) > maxStatusText {
		msg = msg[:maxStatusText]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

// readStatus reads a status reply; a non-OK status is returned as a
// *StreamError.
func readStatus(r io.Reader) error {
	var b [3]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return err
	}
	if Status(b[0]) == StatusOK {
		return nil
	}
	if _, err := io.ReadFull(r, b[1:3]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint16(b[1:3])
	if n > maxStatusText {
		return fmt.Errorf("%w: status message of %d bytes", ErrBadHeader, n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return err
	}
	return &StreamError{Status: Status(b[0]), Message: string(msg)}
}

// Control message types.
const (
	msgHello   = "hello"
	msgWelcome = "welcome"
	msgError   = "error"
	// msgCatalog, from the gateway at any time after the welcome, is the
	// new catalog for the session's principal after a reload.
	msgCatalog = "catalog"
	// Exposing (after a welcome that named the expose feature): the
	// client asks, the gateway grants or refuses by the request's id, and
	// the client withdraws.
	msgExpose        = "expose"
	msgExposed       = "exposed"
	msgExposeRefused = "expose_refused"
	msgUnexpose      = "unexpose"
	msgUnexposed     = "unexposed"
)

// clientFeatures are what this client's hello offers.
var clientFeatures = []string{featureExpose}

func hasFeature(features []string, f string) bool {
	for _, x := range features {
		if x == f {
			return true
		}
	}
	return false
}

// Error codes in control error messages.
const (
	codeUnauthorized = "unauthorized"
	codeVersion      = "version"
	codeLimit        = "limit"
	codeThrottled    = "too_many_failures"
)

// controlMsg is every control message; fields unused by a type stay empty.
type controlMsg struct {
	Type    string           `json:"type"`
	Version int              `json:"version,omitempty"`
	Token   string           `json:"token,omitempty"`
	Catalog *catalog.Catalog `json:"catalog,omitempty"`
	Code    string           `json:"code,omitempty"`
	Message string           `json:"message,omitempty"`
	// RetryAfter is, with code too_many_failures, the seconds to wait.
	RetryAfter int `json:"retry_after,omitempty"`
	// HostnameSuffixes, in a welcome, are the suffixes under which the
	// catalog's hostnames may be written to the client's hosts file.
	HostnameSuffixes []string `json:"hostname_suffixes,omitempty"`
	// SSHKeys, in a hello without a token, are the public keys the client
	// can sign with, in the SSH wire format, base64.
	SSHKeys []string `json:"ssh_keys,omitempty"`
	// Nonce and SSHKeyIndex, in a challenge, are what to sign and with
	// which of the hello's keys (0-based).
	Nonce       []byte `json:"nonce,omitempty"`
	SSHKeyIndex *int   `json:"ssh_key_index,omitempty"`
	// Signature, in an ssh_signature, is the SSH signature (wire format)
	// over the challenge and the session binding.
	Signature []byte `json:"signature,omitempty"`
	// Features, in a hello and a welcome, are the optional parts of the
	// protocol the side takes part in (featureExpose).
	Features []string `json:"features,omitempty"`
	// ID ties an expose request to its answer and its streams; Expose is
	// the request, Grant the answer.
	ID     uint32         `json:"id,omitempty"`
	Expose *ExposeRequest `json:"expose,omitempty"`
	Grant  *ExposeGrant   `json:"grant,omitempty"`
}

// writeControl writes one length-prefixed control frame.
func writeControl(w io.Writer, m *controlMsg) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("tunnel: encode %s: %w", m.Type, err)
	}
	if len(body) > MaxCatalogFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLong, len(body))
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(frame, body...))
	return err
}

// readControl reads one control frame from a client, refusing frames over
// MaxControlFrame before allocating for them: the gateway reads them from
// anyone who connects.
func readControl(r *bufio.Reader) (*controlMsg, error) { return readControlUpTo(r, MaxControlFrame) }

// readGatewayControl reads one control frame from the gateway, which may
// carry a catalog of tens of thousands of ports (30,000 ports are about
// 1.6 MB), up to MaxCatalogFrame. The body is read in steps, so that a
// frame that announces more than it sends costs no more than it sent.
func readGatewayControl(r *bufio.Reader) (*controlMsg, error) {
	return readControlUpTo(r, MaxCatalogFrame)
}

func readControlUpTo(r *bufio.Reader, limit uint32) (*controlMsg, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLong, size)
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, int64(size)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	body := buf.Bytes()
	var m controlMsg
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("tunnel: bad control message: %w", err)
	}
	return &m, nil
}

// MaxDatagram is the largest UDP payload carried: the most an IPv4 UDP
// datagram can hold.
const MaxDatagram = 65507

// ErrDatagramTooLong is returned for a datagram over MaxDatagram bytes.
var ErrDatagramTooLong = errors.New("tunnel: datagram too long")

// AppendDatagram appends p framed for a UDP stream: its length as a
// big-endian uint16, then p. One Write of the result keeps a datagram whole.
func AppendDatagram(b, p []byte) ([]byte, error) {
	if len(p) > MaxDatagram {
		return b, fmt.Errorf("%w: %d bytes", ErrDatagramTooLong, len(p))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	return append(b, p...), nil
}

// ReadDatagram reads one framed datagram into buf, which must hold
// MaxDatagram bytes, and returns its length.
func ReadDatagram(r io.Reader, buf []byte) (int, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return 0, err
	}
	size := int(binary.BigEndian.Uint16(n[:]))
	if size > MaxDatagram || size > len(buf) {
		return 0, fmt.Errorf("%w: %d bytes", ErrDatagramTooLong, size)
	}
	if _, err := io.ReadFull(r, buf[:size]); err != nil {
		return 0, fmt.Errorf("tunnel: truncated datagram: %w", err)
	}
	return size, nil
}
