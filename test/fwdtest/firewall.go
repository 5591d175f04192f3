package fwdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Firewall drops every packet inside a network namespace and lets them
// through again, with whichever of iptables (nft or legacy) or nft works
// here: a link that dies without a FIN or RST, or a host that never
// answers.
type Firewall struct {
	Name    string // the tool: iptables, iptables-nft, iptables-legacy or nft
	NS      string
	drop    func(t testing.TB)
	restore func(t testing.TB) // t nil: best effort, no failure
}

// FindFirewall returns the first tool that can list the namespace's rules:
// iptables (whatever variant it is), iptables-nft, iptables-legacy, nft.
// It skips the test when none can.
func FindFirewall(t testing.TB, ns string) *Firewall {
	t.Helper()
	var tried []string
	for _, bin := range []string{"iptables", "iptables-nft", "iptables-legacy"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		if out, err := firewallCmd("ip", "netns", "exec", ns, bin, "-w", "5", "-S"); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v: %s", bin, err, strings.TrimSpace(out)))
			continue
		}
		return iptablesFirewall(ns, bin)
	}
	if _, err := exec.LookPath("nft"); err == nil {
		out, err := firewallCmd("ip", "netns", "exec", ns, "nft", "list", "ruleset")
		if err == nil {
			return nftFirewall(ns)
		}
		tried = append(tried, fmt.Sprintf("nft: %v: %s", err, strings.TrimSpace(out)))
	}
	t.Skipf("no working iptables or nft to drop packets with (install iptables; tried %v)", tried)
	return nil
}

// Drop makes the namespace drop every packet in and out.
func (fw *Firewall) Drop(t testing.TB) { t.Helper(); fw.drop(t) }

// Restore removes what Drop added; with t nil it is best effort, for a
// cleanup that may run twice.
func (fw *Firewall) Restore(t testing.TB) { fw.restore(t) }

func iptablesFirewall(ns, bin string) *Firewall {
	ipt := func(args ...string) (string, error) {
		return firewallCmd(append([]string{"ip", "netns", "exec", ns, bin, "-w", "5"}, args...)...)
	}
	fw := &Firewall{Name: bin, NS: ns}
	fw.drop = func(t testing.TB) {
		for _, chain := range []string{"INPUT", "OUTPUT"} {
			if out, err := ipt("-I", chain, "1", "-j", "DROP"); err != nil {
				t.Fatalf("%s -I %s -j DROP in %s: %v\n%s", bin, chain, ns, err, out)
			}
		}
	}
	fw.restore = func(t testing.TB) {
		for _, chain := range []string{"INPUT", "OUTPUT"} {
			// Delete every DROP rule we inserted; bounded.
			for range 4 {
				if _, err := ipt("-C", chain, "-j", "DROP"); err != nil {
					break
				}
				if out, err := ipt("-D", chain, "-j", "DROP"); err != nil && t != nil {
					t.Fatalf("%s -D %s -j DROP in %s: %v\n%s", bin, chain, ns, err, out)
				}
			}
		}
	}
	return fw
}

func nftFirewall(ns string) *Firewall {
	const table = "fwdtest"
	fw := &Firewall{Name: "nft", NS: ns}
	fw.drop = func(t testing.TB) {
		script := "table inet " + table + " {\n" +
			"  chain in { type filter hook input priority -300; policy drop; }\n" +
			"  chain out { type filter hook output priority -300; policy drop; }\n}\n"
		cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -f in %s: %v\n%s", ns, err, out)
		}
	}
	fw.restore = func(t testing.TB) {
		if out, err := firewallCmd("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", table); err != nil && t != nil &&
			!strings.Contains(out, "No such file") {
			t.Fatalf("nft delete table in %s: %v\n%s", ns, err, out)
		}
	}
	return fw
}

// CheckDropping makes sure the rules bite: a new connection to addr must
// neither succeed nor be refused, only time out.
func (fw *Firewall) CheckDropping(t testing.TB, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err == nil {
		conn.Close()
		t.Fatalf("%s rules in %s do not drop packets: connected to %s", fw.Name, fw.NS, addr)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s rules in %s do not silently drop packets: dialing %s: %v", fw.Name, fw.NS, addr, err)
	}
}

// firewallCmd runs a system command with a 30s bound and returns its output.
func firewallCmd(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}
