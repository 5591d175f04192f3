package fwdtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
)

// errPortInUse marks a start that failed because the port was taken; the
// Start functions retry those with another port.
var errPortInUse = errors.New("fwdtest: port in use")

// portAttempts bounds the retries with a new port after a bind failure.
const portAttempts = 5

// StartOption changes how a packaged server is started.
type StartOption func(*startConfig)

type startConfig struct {
	pick func(networks ...string) (int, error)
}

// WithPortPicker makes the server take its ports from pick (which may
// hand out taken ones, to test the retries) instead of looking for free
// ones.
func WithPortPicker(pick func(networks ...string) (int, error)) StartOption {
	return func(c *startConfig) { c.pick = pick }
}

func newStartConfig(opts []StartOption) *startConfig {
	c := &startConfig{pick: FreePort}
	for _, o := range opts {
		o(c)
	}
	return c
}

// FreePort returns a port on 127.0.0.1 that is free right now for every
// network given ("tcp", "udp"), for a server that must be told its port
// (sshd, ssh -L, postgres) or is restarted on the same one. It is below
// Linux's ephemeral range: an ephemeral port can meanwhile become some
// connection's source port, or a connection to itself when a client
// redials it while nobody listens. A server that still fails to bind it
// is retried by the caller with another.
func FreePort(networks ...string) (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if portFree(port, networks) {
			return port, nil
		}
	}
	return 0, errors.New("fwdtest: no free port found in 20000-32000")
}

func portFree(port int, networks []string) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for _, n := range networks {
		switch n {
		case "tcp":
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return false
			}
			ln.Close()
		case "udp":
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				return false
			}
			c.Close()
		}
	}
	return true
}

// withPorts runs start with n fresh ports until it succeeds or fails for a
// reason other than a taken port.
func withPorts[T any](c *startConfig, n int, networks []string, start func(ports []int) (T, error)) (T, error) {
	var zero T
	var last error
	for range portAttempts {
		ports, err := distinctPorts(c, n, networks)
		if err != nil {
			return zero, err
		}
		v, err := start(ports)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, errPortInUse) {
			return zero, err
		}
		last = err
	}
	return zero, fmt.Errorf("fwdtest: gave up after %d ports were taken: %w", portAttempts, last)
}

// distinctPorts picks n ports, none twice.
func distinctPorts(c *startConfig, n int, networks []string) ([]int, error) {
	ports := make([]int, 0, n)
	for len(ports) < n {
		p, err := c.pick(networks...)
		if err != nil {
			return nil, err
		}
		dup := false
		for _, q := range ports {
			dup = dup || q == p
		}
		if !dup {
			ports = append(ports, p)
		}
	}
	return ports, nil
}
