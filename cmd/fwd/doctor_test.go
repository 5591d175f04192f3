package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/hosts"
	"github.com/fwd-dev/fwd/internal/doctor"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// listenBelowEphemeral listens on addr with a port below 32768, where the
// system's own ephemeral ports never land, as a server a user runs would.
func listenBelowEphemeral(t *testing.T, host string) (net.Listener, uint16) {
	t.Helper()
	for range 100 {
		port := 20000 + rand.N(12000)
		ln, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			t.Cleanup(func() { ln.Close() })
			return ln, uint16(port)
		}
	}
	t.Fatal("no free port in 20000-32000")
	return nil, 0
}

type doctorOut struct {
	Listeners []doctorListener
	Findings  []doctor.Finding
	Problems  int
}

func runDoctorJSON(t *testing.T, env []string, args ...string) (doctorOut, result) {
	t.Helper()
	r := runFwd(t, env, append([]string{"doctor", "-o", "json"}, args...)...)
	var out doctorOut
	if err := json.Unmarshal([]byte(r.out), &out); err != nil {
		t.Fatalf("exit %d, output %q: %v (stderr %s)", r.code, r.out, err, r.err)
	}
	return out, r
}

func findingWith(out doctorOut, check string, sev doctor.Severity, text string) (doctor.Finding, bool) {
	for _, f := range out.Findings {
		if f.Check == check && f.Severity == sev && strings.Contains(f.Message, text) {
			return f, true
		}
	}
	return doctor.Finding{}, false
}

// TestDoctorFindsWildcardListener: a server of this test on 0.0.0.0:PORT
// takes PORT on every loopback address, so a forward of a catalog port
// PORT cannot keep it. fwd doctor must say so, naming this process, in the
// words of the forward's own note; and find the gateway well.
func TestDoctorFindsWildcardListener(t *testing.T) {
	_, port := listenBelowEphemeral(t, "0.0.0.0")
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "doc", Addons: []catalog.Resource{
		{Kind: catalog.Addon, Project: "doc", Name: "cache", Ports: []catalog.Port{{Name: "redis", Port: port, Protocol: catalog.TCP, Targets: []string{serveEcho(t)}}}},
	}}}}
	gw := fwdtest.NewGateway(t, cat)
	env := []string{"FWD_GATEWAY=" + gw.Addr, "FWD_TOKEN=" + gw.Token, "FWD_FINGERPRINT=" + gw.Fingerprint}
	hostsFile := writeFile(t, "hosts", "127.0.0.1 localhost\n")
	out, r := runDoctorJSON(t, env, "--project", "doc", "--hosts-file", hostsFile)
	if r.code != exitError || !strings.Contains(r.err, "found 1 problem") {
		t.Errorf("exit %d, stderr %q; want 1 for one problem", r.code, r.err)
	}
	held := fmt.Sprintf("is held on every loopback address by pid %d (%s), listening on 0.0.0.0:%d", os.Getpid(), ownComm(), port)
	f, ok := findingWith(out, doctor.CheckForward, doctor.Problem, held)
	if !ok || f.PID != os.Getpid() || f.Fix == "" {
		t.Fatalf("no problem finding with %q, pid %d and a fix in %+v", held, os.Getpid(), out.Findings)
	}
	t.Logf("finding: %s\n  fix: %s", f.Message, f.Fix)
	for _, want := range []string{"reachable, certificate trusted", "certificate valid until", "token accepted; it may forward doc"} {
		if _, ok := findingWith(out, doctor.CheckGateway, doctor.OK, want); !ok {
			t.Errorf("no gateway finding %q in %+v", want, out.Findings)
		}
	}
	if !listed(out.Listeners, "0.0.0.0", port, os.Getpid()) {
		t.Errorf("the listener 0.0.0.0:%d of pid %d is not listed", port, os.Getpid())
	}

	// The forward itself says the same, in its note.
	run, first := startFwd(t, "addon", "cache", "--project", "doc", "--skipHostnames", "-o", "json", "--hosts-file", hostsFile)
	defer run.stop()
	if !strings.Contains(first, held) {
		t.Errorf("the forward's note does not say %q: %s", held, first)
	}
}

func listed(ls []doctorListener, addr string, port uint16, pid int) bool {
	for _, l := range ls {
		if l.Address == addr && l.Port == port && l.PID == pid && l.Network == "tcp" {
			return true
		}
	}
	return false
}

// ownComm is this test binary's name as /proc/self/comm has it.
func ownComm() string {
	b, _ := os.ReadFile("/proc/self/comm")
	return strings.TrimSpace(string(b))
}

// TestDoctorHostsFile: a block of a fwd process that is gone, a user line
// that takes a forward's name, and a server on loopback only that the user
// means to expose; no gateway, the forwards from a catalog file.
func TestDoctorHostsFile(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	hostsFile := writeFile(t, "hosts", "127.0.0.1 localhost\n10.9.9.9 web.blog\n")
	gone := hosts.Owner{PID: dead.ProcessState.Pid(), Session: "c0ffee"}
	if err := hosts.New(hostsFile).Set(gone, []hosts.Entry{{Address: "127.1.2.3", Hostnames: []string{"old", "old.blog"}}}); err != nil {
		t.Fatal(err)
	}
	catalogFile := writeFile(t, "blog.yaml", "projects:\n  - name: blog\n    services:\n      - name: web\n        ports: [{port: 28080, targets: [10.0.0.5:8080]}]\n")
	_, local := listenBelowEphemeral(t, "127.0.0.1")
	out, r := runDoctorJSON(t, nil, "--catalog", catalogFile, "--hosts-file", hostsFile, "--expose", strconv.Itoa(int(local)))
	if r.code != exitError {
		t.Errorf("exit %d (%s), want 1", r.code, r.err)
	}
	stale := fmt.Sprintf("has a block of fwd pid %d, which is no longer running: old, old.blog lead nowhere", gone.PID)
	if f, ok := findingWith(out, doctor.CheckHosts, doctor.Problem, stale); !ok || !strings.Contains(f.Fix, "fwd hosts clean --hosts-file "+hostsFile) {
		t.Errorf("no stale-block problem %q with its fix in %+v", stale, out.Findings)
	}
	if _, ok := findingWith(out, doctor.CheckHosts, doctor.Warning, `your line "10.9.9.9 web.blog"`); !ok {
		t.Errorf("no shadowing warning in %+v", out.Findings)
	}
	loopbackOnly := fmt.Sprintf("port %d listens on 127.0.0.1 only (pid %d", local, os.Getpid())
	if _, ok := findingWith(out, doctor.CheckReachability, doctor.Problem, loopbackOnly); !ok {
		t.Errorf("no finding %q in %+v", loopbackOnly, out.Findings)
	}
	if out.Problems != 2 {
		t.Errorf("%d problems, want 2 (the stale block, the loopback-only server): %+v", out.Problems, out.Findings)
	}
	// The table says the same for people.
	r = runFwd(t, nil, "doctor", "--catalog", catalogFile, "--hosts-file", hostsFile)
	if r.code != exitError || !strings.Contains(r.out, "problem hosts") || !strings.Contains(r.out, "fix: run fwd hosts clean") {
		t.Errorf("table: exit %d\n%s", r.code, r.out)
	}
}

func TestDoctorUnreachableGateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: refused
	out, r := runDoctorJSON(t, []string{"FWD_GATEWAY=" + addr, "FWD_TOKEN=fwd_x", "FWD_FINGERPRINT=sha256:" + strings.Repeat("00", 32)},
		"--hosts-file", writeFile(t, "hosts", ""))
	if _, ok := findingWith(out, doctor.CheckGateway, doctor.Problem, "gateway "+addr+": "); !ok || r.code != exitError {
		t.Errorf("exit %d, findings %+v; want a gateway problem", r.code, out.Findings)
	}
}
