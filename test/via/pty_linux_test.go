package via_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// openPTY returns both ends of a new pseudo-terminal: what a command
// writes to tty, a test reads from pty.
func openPTY(t *testing.T) (pty, tty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, pty.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlocking the pty: %v", e)
	}
	n, err := unix.IoctlGetInt(int(pty.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the tty: %v", err)
	}
	t.Cleanup(func() { tty.Close(); pty.Close() })
	return pty, tty
}

// screen collects what is written to a pty.
type screen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *screen) read(pty *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := pty.Read(b)
		s.mu.Lock()
		s.buf.Write(b[:n])
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestAskOnTerminal checks that on a terminal an unknown server's key is
// asked about in ssh's words: yes records it and forwards, no refuses.
func TestAskOnTerminal(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, fwdtest.SSHDOptions{})
	for _, answer := range []string{"yes", "no"} {
		t.Run(answer, func(t *testing.T) {
			u := newUser(t, s.ClientKey, "")
			cat := u.writeCatalog(oneService("ask"+answer, "echo", 17113, startEcho(t)))
			pty, tty := openPTY(t)
			var scr screen
			go scr.read(pty)
			cmd := exec.Command(fwdBin, "all", "--via", via(s), "--catalog", cat, "--skipHostnames", "--output", "json")
			cmd.Env, cmd.Stdin, cmd.Stderr = u.env, tty, tty
			out, err := cmd.StdoutPipe()
			must(t, err)
			must(t, cmd.Start())
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

			question := fmt.Sprintf("The authenticity of host '[127.0.0.1]:%d ([127.0.0.1]:%d)' can't be established.", s.Port, s.Port)
			waitFor(t, 20*time.Second, "the question", func() bool {
				return strings.Contains(scr.String(), "Are you sure you want to continue connecting (yes/no/[fingerprint])? ")
			})
			for _, want := range []string{question, "ED25519 key fingerprint is " + fingerprint(t, s.HostKey) + "."} {
				if !strings.Contains(scr.String(), want) {
					t.Errorf("the terminal shows\n%s\nwithout %q", scr.String(), want)
				}
			}
			fmt.Fprintln(pty, answer)
			line, _ := bufio.NewReader(out).ReadString('\n')
			if answer == "no" {
				cmd.Wait()
				if cmd.ProcessState.ExitCode() != 3 {
					t.Errorf("answered no: exit %d, terminal:\n%s", cmd.ProcessState.ExitCode(), scr.String())
				}
				// The refusal was written before the exit, but the reader of
				// the terminal may not have it yet.
				waitFor(t, 5*time.Second, "the refusal on the terminal", func() bool {
					return strings.Contains(scr.String(), "was not accepted")
				})
				return
			}
			var results []forward.Result
			if err := json.Unmarshal([]byte(line), &results); err != nil {
				t.Fatalf("results line %q: %v; terminal:\n%s", line, err, scr.String())
			}
			must(t, echo(addrOf(t, results, "main"), "asked", 5*time.Second))
			if b, _ := os.ReadFile(u.knownHosts()); !strings.Contains(string(b), s.HostKey) {
				t.Errorf("known_hosts after yes:\n%s", b)
			}
			cmd.Process.Signal(syscall.SIGINT)
		})
	}
}
