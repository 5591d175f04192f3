//go:build linux

// Package kube_test drives the real fwd gateway with catalog: {kubernetes:
// ...} against a real kube-apiserver and etcd, with the gateway's
// read-only account, and the real client forwarding what the cluster's
// Services say, to targets in a network namespace. The test writes the
// Services and EndpointSlices itself: no controller-manager runs.
package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

var (
	fwdBin string

	// The package's one API server, started by the first test that needs
	// it and stopped by TestMain.
	kubeOnce sync.Once
	kube     *fwdtest.Kube
	kubeErr  error
	kubeDir  string
)

func TestMain(m *testing.M) {
	bin, remove, err := fwdtest.BuildFwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube:", err)
		os.Exit(1)
	}
	fwdBin = bin
	code := m.Run()
	if kube != nil {
		if err := kube.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "kube: stopping the API server:", err)
		}
	}
	if kubeDir != "" {
		os.RemoveAll(kubeDir)
	}
	remove()
	os.Exit(code)
}

// needKube returns the API server, skipping the test when its binaries
// are not there.
func needKube(t *testing.T) *fwdtest.Kube {
	t.Helper()
	kubeOnce.Do(func() {
		if kubeDir, kubeErr = os.MkdirTemp("", "fwd-kube-"); kubeErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		kube, kubeErr = fwdtest.StartKube(ctx, kubeDir)
	})
	if errors.Is(kubeErr, fwdtest.ErrNotInstalled) {
		t.Skip(kubeErr)
	}
	if kubeErr != nil {
		t.Fatal(kubeErr)
	}
	return kube
}

// forwards maps "name/port" (the port's name) to the local address, from
// one JSON results line of fwd all.
func forwards(line string) (map[string]string, error) {
	var results []struct {
		Data *struct {
			ID       string `json:"id"`
			Address  string `json:"address"`
			Port     int    `json:"port"`
			PortName string `json:"portName"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(line), &results); err != nil {
		return nil, fmt.Errorf("results line %q: %w", line, err)
	}
	out := map[string]string{}
	for _, r := range results {
		if r.Data != nil {
			out[r.Data.ID+"/"+r.Data.PortName] = net.JoinHostPort(r.Data.Address, strconv.Itoa(r.Data.Port))
		}
	}
	return out, nil
}

// lastForwards is the last JSON results line the client printed after
// its first (those go to its log); nil if none.
func lastForwards(p *fwdtest.Process) map[string]string {
	var last map[string]string
	for _, line := range strings.Split(p.Output(), "\n") {
		if strings.HasPrefix(line, "[") {
			if f, err := forwards(line); err == nil {
				last = f
			}
		}
	}
	return last
}

// waitForwards waits, at most 15 s, until the client's latest results
// satisfy ok, and says when they did.
func waitForwards(t *testing.T, p *fwdtest.Process, what string, ok func(map[string]string) bool) (map[string]string, time.Time) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if f := lastForwards(p); f != nil && ok(f) {
			return f, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("client never printed forwards with %s; its log:\n%s", what, p.LogTail())
	return nil, time.Time{}
}

// echo sends msg through addr and expects it back.
func echo(addr, msg string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		return fmt.Errorf("echo through %s: read %q, %v; want %q", addr, buf, err, msg)
	}
	return nil
}
