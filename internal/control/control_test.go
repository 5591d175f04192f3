package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// recorder is the test's client: it answers a fixed status and records
// stop requests.
type recorder struct {
	stops []StopRequest
	fail  error
}

func (r *recorder) Status() Status {
	return Status{PID: os.Getpid(), Gateway: "gw:7443", State: "connected",
		Forwards: []Forward{{Type: "addon", ProjectID: "shop", ID: "db", Port: 5432, BytesSent: 42}}}
}

func (r *recorder) Stop(s StopRequest) error {
	r.stops = append(r.stops, s)
	return r.fail
}

const peerHelperEnv = "FWD_CONTROL_TEST_DIAL"

func TestMain(m *testing.M) {
	if path := os.Getenv(peerHelperEnv); path != "" {
		os.Exit(dialAndRead(path))
	}
	os.Exit(m.Run())
}

// dialAndRead is the helper process: it asks the socket for the status and
// exits 0 if it got an answer, 3 if the server hung up on it.
func dialAndRead(path string) int {
	st, err := newClient(0, path).Status(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fmt.Println(st.Gateway)
	return 0
}

func listen(t *testing.T, h Handler) (string, *Server) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fwd")
	s, err := Listen(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return dir, s
}

func TestStatusAndStop(t *testing.T) {
	rec := &recorder{}
	dir, s := listen(t, rec)
	info, _ := os.Stat(dir)
	sock, _ := os.Stat(s.Path())
	if info.Mode().Perm() != 0o700 || sock.Mode().Perm() != 0o600 {
		t.Fatalf("dir mode %v, socket mode %v; want 0700 and 0600", info.Mode().Perm(), sock.Mode().Perm())
	}
	ctx := context.Background()
	clients, err := Clients(ctx, dir)
	if err != nil || len(clients) != 1 || clients[0].PID != os.Getpid() {
		t.Fatalf("clients %v, %v; want this process", clients, err)
	}
	st, err := clients[0].Status(ctx)
	if err != nil || st.Gateway != "gw:7443" || len(st.Forwards) != 1 || st.Forwards[0].BytesSent != 42 {
		t.Fatalf("status %+v, %v", st, err)
	}
	want := StopRequest{Kind: "addon", Project: "shop", Name: "db"}
	if err := clients[0].Stop(ctx, want); err != nil || len(rec.stops) != 1 || rec.stops[0] != want {
		t.Fatalf("stop: %v, recorded %v", err, rec.stops)
	}
	rec.fail = errors.New("nothing forwarded for shop/addon:cache")
	if err := clients[0].Stop(ctx, StopRequest{Kind: "addon", Project: "shop", Name: "cache"}); err == nil || !strings.Contains(err.Error(), "nothing forwarded for shop/addon:cache") {
		t.Fatalf("refused stop: %v, want the client's reason", err)
	}
	s.Close()
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still there after Close: %v", err)
	}
}

// TestDeadSocketRemoved: a socket left by a client that died is removed,
// never listed.
func TestDeadSocketRemoved(t *testing.T) {
	dir, _ := listen(t, &recorder{})
	dead := socketPath(dir, 999999)
	ln, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	clients, err := Clients(context.Background(), dir)
	if err != nil || len(clients) != 1 || clients[0].PID != os.Getpid() {
		t.Fatalf("clients %v, %v; want only the live one", clients, err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dead socket kept: %v", err)
	}
}

func TestOpenDirRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fwd")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	if _, err := Listen(dir, &recorder{}); err == nil || !strings.Contains(err.Error(), "other users") {
		t.Fatalf("Listen in a 0755 directory: %v, want a refusal", err)
	}
}

// TestOtherUserRefused: a process of another user that reaches the socket
// (its directory opened up by hand) gets no answer.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a helper as another user")
	}
	dir, s := listen(t, &recorder{})
	openUp(dir)
	os.Chmod(s.Path(), 0o666)
	// The helper is this test binary, copied where another user may run it.
	bin := filepath.Join(t.TempDir(), "helper")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	openUp(filepath.Dir(bin))
	run := func(cred *syscall.Credential) (int, string) {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), peerHelperEnv+"="+s.Path())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run(nil); code != 0 {
		t.Fatalf("root's helper: exit %d: %s", code, out)
	}
	if code, out := run(&syscall.Credential{Uid: 65534, Gid: 65534}); code != 3 {
		t.Fatalf("nobody's helper: exit %d (%s), want the connection dropped", code, out)
	}
}

func TestDir(t *testing.T) {
	for _, tc := range []struct {
		uid      int
		xdg, tmp string
		want     string
	}{
		{0, "/run/user/0", "/tmp", "/run/fwd"},
		{1000, "/run/user/1000", "/tmp", "/run/user/1000/fwd"},
		{1000, "", "/tmp", "/tmp/fwd-1000"},
	} {
		if got := Dir(tc.uid, tc.xdg, tc.tmp); got != tc.want {
			t.Errorf("Dir(%d, %q, %q) = %q, want %q", tc.uid, tc.xdg, tc.tmp, got, tc.want)
		}
	}

}

// openUp lets other users into dir and the test's directories above it.
func openUp(dir string) {
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
}
