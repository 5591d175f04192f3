package hostnames

import (
	"strings"
	"testing"
)

func TestReserved(t *testing.T) {
	for name, want := range map[string]bool{
		"localhost":                  true,
		"LocalHost":                  true,
		"localhost.":                 true,
		"api.localhost":              true,
		"a.b.LOCALHOST":              true,
		"localhost.localdomain":      true,
		"ip6-localhost":              true,
		"ip6-allnodes":               true,
		"IP6-Loopback":               true,
		"broadcasthost":              true,
		"BroadcastHost":              true,
		"localhostx":                 false,
		"mylocalhost":                false,
		"api.mylocalhost":            false,
		"localhost-1":                false,
		"ip6.example.com":            false,
		"ip-6":                       false,
		"api.ip6-net.example":        false,
		"broadcasthost.example":      false,
		"api.shop.svc.cluster.local": false,
		"":                           false,
	} {
		if got := Reserved(name); got != want {
			t.Errorf("Reserved(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestUnderSuffix(t *testing.T) {
	cluster := []string{"svc.cluster.local"}
	for _, tc := range []struct {
		name     string
		suffixes []string
		want     bool
	}{
		{"api.shop.svc.cluster.local", cluster, true},
		{"svc.cluster.local", cluster, true},
		{"API.Shop.SVC.cluster.local", cluster, true},
		{"api.shop.svc.cluster.local", []string{".SVC.Cluster.Local"}, true},
		{"db.shop.internal", []string{"svc.cluster.local", "shop.internal"}, true},
		{"api.xsvc.cluster.local", cluster, false},
		{"cluster.local", cluster, false},
		{"api.svc.cluster.local.evil", cluster, false},
		{"api.example.com", nil, false},
		{"local.", []string{""}, false},
		{"local", []string{"."}, false},
	} {
		if got := UnderSuffix(tc.name, tc.suffixes); got != tc.want {
			t.Errorf("UnderSuffix(%q, %q) = %v, want %v", tc.name, tc.suffixes, got, tc.want)
		}
	}
}

func TestIsDNSName(t *testing.T) {
	for h, want := range map[string]bool{
		"gw.example.com": true, "localhost": true, "a_b.c": true, "x.": true,
		"": false, "a..b": false, "-a.b": false, "a b": false, "127.0.0.1 ": false, strings.Repeat("a", 64): false,
	} {
		if got := IsDNSName(h); got != want {
			t.Errorf("IsDNSName(%q) = %v, want %v", h, got, want)
		}
	}
}
