package config

import (
	"errors"
	"strings"
	"testing"
)

// metricsBase is a config of lines 1-5 that metrics_listen lines follow.
const metricsBase = kubeTokens + "listen: 127.0.0.1:7443\n"

func TestParseMetricsListen(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9090", ":9090", "[::1]:9090", "127.0.0.1:7444"} {
		c, err := Parse("m.yaml", []byte(metricsBase+inCluster+"metrics_listen: \""+addr+"\"\n"))
		if err != nil {
			t.Errorf("metrics_listen %s: %v", addr, err)
			continue
		}
		if c.MetricsListen != addr {
			t.Errorf("MetricsListen = %q, want %q", c.MetricsListen, addr)
		}
	}
	c, err := Parse("m.yaml", []byte(metricsBase+inCluster))
	if err != nil || c.MetricsListen != "" {
		t.Errorf("without metrics_listen: %q, %v: want none", c.MetricsListen, err)
	}
	// Port 0 twice is two ports the OS picks.
	if _, err := Parse("m.yaml", []byte(kubeTokens+inCluster+"listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n")); err != nil {
		t.Errorf("listen and metrics_listen on port 0: %v", err)
	}
}

func TestParseMetricsListenErrors(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"same as listen", "metrics_listen: 127.0.0.1:7443\n", 6, `metrics_listen "127.0.0.1:7443" is the same address as listen`},
		{"every interface on listen's port", "metrics_listen: 0.0.0.0:7443\n", 6, "the same address as listen"},
		{"same as ssh_listen", "ssh_listen: 127.0.0.1:2222\nmetrics_listen: \":2222\"\n", 7, "the same address as ssh_listen"},
		{"empty", "metrics_listen: \"\"\n", 6, "metrics_listen is empty"},
		{"no port", "metrics_listen: 127.0.0.1\n", 6, "is not host:port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("m.yaml", []byte(metricsBase+c.yaml+inCluster))
			if err == nil {
				t.Fatal("parsed")
			}
			var e *Error
			if !errors.As(err, &e) || e.Line != c.line || !strings.Contains(e.Error(), c.want) {
				t.Errorf("error %q (line %d), want line %d and %q", err, lineOf(err), c.line, c.want)
			}
		})
	}
}

func lineOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Line
	}
	return 0
}
