package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client is one running fwd, found by its socket.
type Client struct {
	PID  int
	Path string
	http *http.Client
}

// Clients lists the running clients whose sockets are in dir, in pid
// order. A socket nobody answers on (its process died) is removed. A
// missing dir means none is running.
func Clients(ctx context.Context, dir string) ([]*Client, error) {
	names, err := filepath.Glob(filepath.Join(dir, "fwd-*.sock"))
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	var out []*Client
	for _, path := range names {
		pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "fwd-"), ".sock"))
		if err != nil {
			continue
		}
		c := newClient(pid, path)
		if !c.alive(ctx) {
			os.Remove(path) // dead: cleaned up, never trusted
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

func newClient(pid int, path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{PID: pid, Path: path, http: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// alive reports whether the socket answers. A refused connection or a
// missing socket means the client is gone.
func (c *Client) alive(ctx context.Context) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		return !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOENT)
	}
	conn.Close()
	return true
}

// Status asks the client what it forwards.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://fwd/v1/status", nil)
	if err != nil {
		return st, fmt.Errorf("control: %w", err)
	}
	err = c.do(req, &st)
	return st, err
}

// Stop asks the client to stop what r names.
func (c *Client) Stop(ctx context.Context, r StopRequest) error {
	body, _ := json.Marshal(r)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://fwd/v1/stop", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	return c.do(req, nil)
}

func (c *Client) do(req *http.Request, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control: fwd pid %d: %w", c.PID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("fwd pid %d: %s", c.PID, e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("control: fwd pid %d answered badly: %w", c.PID, err)
	}
	return nil
}
