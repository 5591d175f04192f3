package sshdial

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
	}{
		{"ssh://bastion", Spec{Host: "bastion"}},
		{"ssh://bob@bastion:2222", Spec{User: "bob", Host: "bastion", Port: 2222}},
		{"ssh://[::1]:22", Spec{Host: "::1", Port: 22}},
		{"ssh://10.0.0.1/", Spec{Host: "10.0.0.1"}},
	} {
		got, err := ParseURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"bastion", "http://bastion", "ssh://", "ssh://host:0", "ssh://host:x", "ssh://u:pw@host", "ssh://host/path"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted it", bad)
		}
	}
	for in, want := range map[string]Spec{
		"jump":               {Host: "jump"},
		"al@jump:2200":       {User: "al", Host: "jump", Port: 2200},
		"[fd00::1]":          {Host: "fd00::1"},
		"ssh://al@jump:2201": {User: "al", Host: "jump", Port: 2201},
	} {
		if got, err := parseJump(in); err != nil || got != want {
			t.Errorf("parseJump(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

// writeConfig makes a home with .ssh/config holding text.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// TestRoute checks aliases, HostName, User, Port, IdentityFile and
// UserKnownHostsFile with their tokens, and ProxyJump: a list, each entry
// resolved through ssh_config, the first one's own ProxyJump followed.
func TestRoute(t *testing.T) {
	home := writeConfig(t, `Host bastion
    HostName 127.0.0.1
    Port 2222
    User bob
    IdentityFile ~/.ssh/bastion_%r
    ProxyJump jump1,al@jump2:2200
    UserKnownHostsFile ~/.ssh/kh_%h
    HashKnownHosts yes
    StrictHostKeyChecking accept-new

Host jump1
    HostName %h.example.net
    ProxyJump j0

Host jump2
    HostName 10.0.0.2
    User nobody

Host *
    IdentityFile ~/.ssh/id_all
`)
	c, err := LoadConfig(home, "", "me")
	if err != nil {
		t.Fatal(err)
	}
	route, err := c.Route(Spec{Host: "bastion"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range route {
		got = append(got, h.User+"@"+h.String())
	}
	want := []string{"me@j0:22", "me@jump1 (jump1.example.net:22)", "al@jump2 (10.0.0.2:2200)", "bob@bastion (127.0.0.1:2222)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("route = %q\nwant    %q", got, want)
	}
	b := route[3]
	ssh := filepath.Join(home, ".ssh")
	if want := []string{filepath.Join(ssh, "bastion_bob"), filepath.Join(ssh, "id_all")}; !reflect.DeepEqual(b.IdentityFiles, want) {
		t.Errorf("IdentityFiles = %q, want %q", b.IdentityFiles, want)
	}
	if want := []string{filepath.Join(ssh, "kh_127.0.0.1")}; !reflect.DeepEqual(b.KnownHosts, want) {
		t.Errorf("KnownHosts = %q, want %q", b.KnownHosts, want)
	}
	if !b.HashKnownHosts || b.StrictHostKeyChecking != "accept-new" {
		t.Errorf("HashKnownHosts %v, StrictHostKeyChecking %q", b.HashKnownHosts, b.StrictHostKeyChecking)
	}
	j := route[1]
	if want := []string{filepath.Join(ssh, "known_hosts"), filepath.Join(ssh, "known_hosts2")}; !reflect.DeepEqual(j.KnownHosts, want) || j.StrictHostKeyChecking != "ask" {
		t.Errorf("defaults: KnownHosts %q, StrictHostKeyChecking %q", j.KnownHosts, j.StrictHostKeyChecking)
	}
	// What the URL says wins over ssh_config.
	h, err := c.Hop(Spec{User: "root", Host: "bastion", Port: 22})
	if err != nil || h.User != "root" || h.Port != 22 || h.Host != "127.0.0.1" {
		t.Errorf("Hop with user and port given = %+v, %v", h, err)
	}
}

// TestRouteErrors checks what fwd cannot follow: a ProxyCommand, jumps
// that loop, an unparsable file (named in the error), a bad port.
func TestRouteErrors(t *testing.T) {
	for _, tc := range []struct{ name, config, host, want string }{
		{"proxy command", "Host a\n  ProxyCommand nc %h %p\n", "a", "ProxyCommand, which fwd does not run: use ProxyJump"},
		{"loop", "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n", "a", "ProxyJump hosts on the way"},
		{"port", "Host a\n  Port 99999\n", "a", `Port "99999": use 1-65535`},
		{"bad jump", "Host a\n  ProxyJump b:0\n", "a", "(ProxyJump of a)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(writeConfig(t, tc.config), "", "me")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Route(Spec{Host: tc.host}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	home := writeConfig(t, "Match exec true\n  User x\n")
	_, err := LoadConfig(home, "", "me")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Path != filepath.Join(home, ".ssh", "config") || !strings.Contains(err.Error(), "Match Exec") {
		t.Errorf("unparsable config: %v", err)
	}
	if c, err := LoadConfig(t.TempDir(), filepath.Join(t.TempDir(), "missing"), "me"); err != nil || len(c.files) != 0 {
		t.Errorf("no config files: %v", err)
	}
}
