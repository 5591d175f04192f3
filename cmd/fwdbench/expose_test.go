package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseExposeLine(t *testing.T) {
	r, err := parseExposeLine(`[{"localPort":3000,"name":"bench","url":"https://http--bench--abcd1234.bench.test:4443","open":true}]`)
	if err != nil || r.URL != "https://http--bench--abcd1234.bench.test:4443" {
		t.Fatalf("parseExposeLine = %+v, %v", r, err)
	}
	r, err = parseExposeLine(`[{"localPort":3000,"name":"bench","tcpAddr":"bench.test:32000","remotePort":32000,"open":true}]`)
	if err != nil || r.RemotePort != 32000 {
		t.Fatalf("parseExposeLine --tcp = %+v, %v", r, err)
	}
	for _, bad := range []string{
		`[{"localPort":3000,"name":"bench","open":false,"error":{"message":"this token may not expose"},"code":"forbidden"}]`,
		`[{"localPort":3000,"name":"bench","open":true}]`,
		`[]`,
		`not json`,
	} {
		if _, err := parseExposeLine(bad); err == nil {
			t.Errorf("parseExposeLine(%q) accepted it", bad)
		}
	}
	if _, err := parseExposeLine(`[{"localPort":3000,"error":{"message":"this token may not expose"},"code":"forbidden"}]`); err == nil ||
		!strings.Contains(err.Error(), "may not expose") {
		t.Errorf("the refusal's message is not in the error: %v", err)
	}
}

func TestParseFlagsExpose(t *testing.T) {
	o, err := parseFlags([]string{"--phases", "expose"}, os.Stderr)
	if err != nil || !o.phases[phaseExpose] || o.phases[phaseLoopback] {
		t.Fatalf("options = %+v, %v", o, err)
	}
	if o, err := parseFlags(nil, os.Stderr); err != nil || o.phases[phaseExpose] {
		t.Errorf("expose runs by default: %+v, %v", o.phases, err)
	}
	_, err = parseFlags([]string{"--phases", "nope"}, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "expose") {
		t.Errorf("the unknown phase error does not list expose: %v", err)
	}
}
