//go:build !linux

package bench

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// Link is a delayed IP link between two network namespaces; Linux only.
type Link struct{}

var errNoLink = errors.New("TUN links need Linux network namespaces")

// LinkUsable reports why a Link cannot be built here.
func LinkUsable() error { return errNoLink }

// NewLink always fails off Linux.
func NewLink(time.Duration, int) (*Link, error) { return nil, errNoLink }

func (l *Link) Namespace(Side) string                     { return "" }
func (l *Link) Addr(Side) netip.Addr                      { return netip.Addr{} }
func (l *Link) Stats() (int64, int64, int64)              { return 0, 0, 0 }
func (l *Link) Close() error                              { return nil }
func (l *Link) Listen(Side, string) (net.Listener, error) { return nil, errNoLink }
func (l *Link) Dialer(Side) DialFunc {
	return func(context.Context, string) (net.Conn, error) { return nil, errNoLink }
}
