//go:build linux

// Package kube_test drives the real fwd gateway with catalog: {kubernetes:
// ...} against a real kube-apiserver and etcd, with the gateway's
// read-only account, and the real client forwarding what the cluster's
// Services say, to targets in a network namespace. The test writes the
// Services and EndpointSlices itself: no controller-manager runs.
package kube_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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
	code := fwdtest.RunWithFwd(m, &fwdBin)
	if kube != nil {
		if err := kube.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "kube: stopping the API server:", err)
		}
	}
	if kubeDir != "" {
		os.RemoveAll(kubeDir)
	}
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
	fs, err := fwdtest.ParseForwards(line)
	if err != nil {
		return nil, err
	}
	return byPort(fs), nil
}

func byPort(fs []fwdtest.Forward) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		out[f.ID+"/"+f.PortName] = f.Addr
	}
	return out
}

// lastForwards is the client's latest results (it prints them again
// after each change); nil if none.
func lastForwards(p *fwdtest.Process) map[string]string {
	if fs := fwdtest.LastForwards(p.Output()); fs != nil {
		return byPort(fs)
	}
	return nil
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
