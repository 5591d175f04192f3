package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// Building blocks with known line numbers: tokens is lines 1-4, shop lines
// 5-9, and a port line after it is line 10.
const (
	testHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" // sha256("test")
	tokens   = "tokens:\n  - name: alice\n    sha256: " + testHash + "\n    projects: [shop]\n"
	shop     = "projects:\n  - name: shop\n    services:\n      - name: api\n        ports:\n"
	port     = "          - {port: 8080, targets: [10.0.0.5:8080]}\n"
	good     = tokens + shop + port
)

type badCase struct {
	name   string
	yaml   string
	line   int    // the error must start with "bad.yaml:<line>:"
	phrase string // and contain this
}

// withEnv is good with an env: under api, on line 11.
func withEnv(env string) string {
	return tokens + shop + "          - {name: http, port: 8080, targets: [10.0.0.5:8080]}\n        env:\n          " + env + "\n"
}

var badCases = []badCase{
	{"env bad name", withEnv(`1URL: x`), 12, `env "1URL" is not a variable name`},
	{"env bad template", withEnv(`URL: "{{.Address"`), 12, "env URL: catalog: bad env template"},
	{"env unknown port", withEnv(`URL: "{{.Port \"grpc\"}}"`), 12, `no port named "grpc" (ports: 8080, http)`},
	{"env undefined secret", withEnv(`URL: "{{secret \"pw\"}}"`), 12, `uses secret "pw", which secrets: does not define`},
	{"env unknown field", withEnv(`URL: "{{.Adress}}"`), 12, "bad env template"},
	{"secret without source", good + "secrets:\n  pw: {}\n", 12, `secret "pw" says neither env nor file`},
	{"secret with both", good + "secrets:\n  pw: {env: PW, file: pw.txt}\n", 12, "has both env and file"},
	{"secret bad env", good + "secrets:\n  pw: {env: \"PW X\"}\n", 12, "is not an environment variable name"},
	{"secret unknown key", good + "secrets:\n  pw: {vault: x}\n", 12, `unknown key "vault" in secret pw`},
	{"empty file", "", 1, "the config is empty"},
	{"only comments", "# nothing yet\n", 1, "the config is empty"},
	{"null document", "~\n", 1, "the config is empty"},
	{"top level is a list", "- listen: :7443\n", 1, "the config must be a mapping"},
	{"tab indentation", tokens + "projects:\n\t- name: shop\n", 6, "indent with spaces, not tabs"},
	{"tab in mapping", tokens + "projects:\n  - name: shop\n\t  services: []\n", 7, "tabs"},
	{"unclosed bracket", tokens + "projects: [{name: shop}\nlisten: :1\n", 5, "close the list with ]"},
	{"unclosed quote", tokens + "listen: \"127.0.0.1:7443\nprojects: []\n", 5, "close the quote"},
	{"bad indentation", tokens + "projects:\n  - name: shop\n services: []\n", 7, "invalid YAML"},
	{"control character", tokens + "listen: \"a\x01b\"\n", 5, "control character"},
	{"invalid utf-8", tokens + "listen: \xff\n", 5, "UTF-8"},
	{"bare star", "tokens:\n  - name: alice\n    sha256: " + testHash + "\n    projects: [*]\n", 4, `quote "*"`},
	{"unknown anchor", tokens + "listen: *nowhere\n", 5, "define the anchor"},
	{"second document", good + "---\nlisten: :1\n", 11, "second YAML document"},
	{"unknown top-level key", tokens + "projets:\n  - name: shop\n", 5, `unknown key "projets" in the config: did you mean "projects"?`},
	{"unknown key, no suggestion", good + "colour: blue\n", 11, "expected one of listen, tls, tokens, projects, limits"},
	{"unknown port key", tokens + shop + "          - {prot: 8080, targets: [10.0.0.5:8080]}\n", 10, `unknown key "prot" in a port: did you mean "port"?`},
	{"service-level port key", tokens + "projects:\n  - name: shop\n    services:\n      - name: api\n        port: 8080\n", 9, `did you mean "ports"?`},
	{"duplicate key", good + "tokens: []\n", 11, `duplicate key "tokens" in the config (first at line 1)`},
	{"merge key", tokens + shop + "          - {<<: {port: 1}, targets: [10.0.0.5:8080]}\n", 10, "merge keys (<<) are not supported"},
	{"port out of range", tokens + shop + "          - {port: 70000, targets: [10.0.0.5:8080]}\n", 10, "port 70000 out of range: use 1-65535"},
	{"port zero", tokens + shop + "          - {port: 0, targets: [10.0.0.5:8080]}\n", 10, "port 0 out of range"},
	{"port not a number", tokens + shop + "          - {port: http, targets: [10.0.0.5:8080]}\n", 10, `port must be a whole number, not "http"`},
	{"port missing", tokens + shop + "          - {name: http, targets: [10.0.0.5:8080]}\n", 10, "port has no number"},
	{"bad protocol", tokens + shop + "          - {port: 8080, protocol: SCTP, targets: [10.0.0.5:8080]}\n", 10, `unknown protocol "SCTP": use HTTP, HTTP2, TCP or UDP`},
	{"missing targets", tokens + shop + "          - {port: 8080}\n", 10, "port 8080 has no targets"},
	{"empty targets", tokens + shop + "          - port: 8080\n            targets: []\n", 11, "port 8080 has no targets"},
	{"targets not a list", tokens + shop + "          - {port: 8080, targets: 10.0.0.5:8080}\n", 10, "targets must be a list: write targets: [10.0.0.5:8080]"},
	{"target without port", tokens + shop + "          - {port: 8080, targets: [10.0.0.5]}\n", 10, `target "10.0.0.5" is not host:port`},
	{"target port out of range", tokens + shop + "          - port: 8080\n            targets:\n              - 10.0.0.5:8080\n              - 10.0.0.6:99999\n", 13, `target "10.0.0.6:99999" has port "99999": use a number 1-65535`},
	{"target ipv6 without brackets", tokens + shop + "          - {port: 8080, targets: ['fd00::5:8080']}\n", 10, "put IPv6 addresses in brackets"},
	{"target bad host", tokens + shop + "          - {port: 8080, targets: ['db host:8080']}\n", 10, "not an IP address or DNS name"},
	{"target twice", tokens + shop + "          - {port: 8080, targets: [10.0.0.5:8080, 10.0.0.5:8080]}\n", 10, "listed twice for port 8080"},
	{"port number twice", good + "          - {port: 8080, protocol: HTTP, targets: [10.0.0.5:8080]}\n", 11, `TCP port 8080 is listed twice in service "api" (first at line 10)`},
	{"port name twice", tokens + shop + "          - {name: http, port: 80, targets: [10.0.0.5:80]}\n          - {name: http, port: 81, targets: [10.0.0.5:81]}\n", 11, `port name "http" is used twice`},
	{"port is a number", tokens + shop + "          - 8080\n", 10, "a port must be a mapping of keys"},
	{"service without ports", tokens + "projects:\n  - name: shop\n    services:\n      - name: api\n", 8, `service "api" has no ports`},
	{"duplicate service", good + "      - name: api\n        ports: [{port: 1, targets: [a:1]}]\n", 11, `service "api" is defined twice in project "shop" (first at line 8)`},
	{"service and addon share a name", good + "    addons:\n      - name: api\n        ports: [{port: 1, targets: [a:1]}]\n", 12, "both would be reachable as api.shop"},
	{"capital letters in name", tokens + "projects:\n  - name: Shop\n", 6, `project name "Shop" has capital letters: use "shop"`},
	{"underscore in name", tokens + shop[:len(shop)-len("      - name: api\n        ports:\n")] + "      - name: my_api\n        ports:\n" + port, 8, `service name "my_api" contains '_'`},
	{"name too long", tokens + "projects:\n  - name: " + strings.Repeat("a", 64) + "\n", 6, "use at most 63"},
	{"name missing", tokens + "projects:\n  - services: []\n", 6, "project has no name"},
	{"duplicate project", good + "  - name: shop\n", 11, `project "shop" is defined twice (first at line 6)`},
	{"bad hostname", tokens + "projects:\n  - name: shop\n    services:\n      - name: api\n        hostnames: [api..shop]\n        ports:\n" + port, 9, "has an empty part between dots"},
	{"hostname twice", good + "      - name: web\n        hostnames: [api.shop]\n        ports: [{port: 1, targets: [a:1]}]\n", 12, `hostname "api.shop" already reaches service "api" of project "shop"`},
	{"hostname is an IP", tokens + "projects:\n  - name: shop\n    services:\n      - name: api\n        hostnames: [10.0.0.5]\n        ports:\n" + port, 9, "is an IP address"},
	{"sha256 too short", "tokens:\n  - name: alice\n    sha256: 9f86d0\n    projects: [shop]\n" + shop + port, 3, "sha256 must be 64 hex characters, not 6"},
	{"sha256 not hex", "tokens:\n  - name: alice\n    sha256: " + strings.Repeat("g", 64) + "\n    projects: [shop]\n" + shop + port, 3, "64 hex characters (0-9, a-f)"},
	{"sha256 is a token", "tokens:\n  - name: alice\n    sha256: fwd_abcdef\n    projects: [shop]\n" + shop + port, 3, "holds a token, not its hash"},
	{"sha256 missing", "tokens:\n  - name: alice\n    projects: [shop]\n" + shop + port, 2, `token "alice" has no sha256`},
	{"sha256 of empty token", "tokens:\n  - name: alice\n    sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n    projects: [shop]\n" + shop + port, 3, "hash of an empty token"},
	{"duplicate sha256", "tokens:\n  - {name: a, sha256: " + testHash + ", projects: [shop]}\n  - {name: b, sha256: " + testHash + ", projects: [shop]}\n" + shop + port, 3, "same sha256 as the token at line 2"},
	{"token for unknown project", "tokens:\n  - name: alice\n    sha256: " + testHash + "\n    projects: [shop, shpo]\n" + shop + port, 4, `token "alice" names unknown project "shpo": use one of shop`},
	{"token without projects", "tokens:\n  - name: alice\n    sha256: " + testHash + "\n    projects: []\n" + shop + port, 4, `token "alice" has no projects`},
	{"token projects missing", "tokens:\n  - name: alice\n    sha256: " + testHash + "\n" + shop + port, 2, "has no projects"},
	{"token without name", "tokens:\n  - sha256: " + testHash + "\n    projects: [shop]\n" + shop + port, 2, "token has no name"},
	{"duplicate token name", tokens + "  - {name: alice, sha256: " + strings.Repeat("a", 64) + ", projects: [shop]}\n" + shop + port, 5, `token name "alice" is used twice (first at line 2)`},
	{"no tokens", shop + port, 1, "no tokens and no users, so nobody can connect"},
	{"empty tokens", "tokens: []\n" + shop + port, 1, "no tokens"},
	{"cert without key", good + "tls:\n  cert: gateway.crt\n", 12, "tls has a cert but no key"},
	{"key without cert", good + "tls: {key: gateway.key}\n", 11, "tls has a key but no cert"},
	{"tls not a mapping", good + "tls: gateway.crt\n", 11, "tls must be a mapping"},
	{"listen not host:port", good + "listen: 7443\n", 11, `listen "7443" is not host:port`},
	{"listen empty", good + "listen:\n", 11, "listen is empty"},
	{"negative limit duration", good + "limits:\n  dial_timeout: -1s\n", 12, "dial_timeout is -1s: use a positive duration"},
	{"zero udp idle", good + "limits:\n  udp_flow_idle: 0s\n", 12, "udp_flow_idle is 0s"},
	{"negative idle timeout", good + "limits:\n  idle_timeout: -5m\n", 12, "or 0 to never cut idle streams"},
	{"duration without unit", good + "limits:\n  shutdown_grace: 10\n", 12, `shutdown_grace "10" is not a duration: add a unit: 10s`},
	{"duration nonsense", good + "limits:\n  dial_timeout: soon\n", 12, "use a number with a unit"},
	{"zero sessions", good + "limits:\n  max_sessions: 0\n", 12, "max_sessions 0 out of range"},
	{"sessions not a number", good + "limits:\n  max_streams_per_session: lots\n", 12, "must be a whole number"},
	{"unknown limit", good + "limits:\n  dial_timout: 1s\n", 12, `did you mean "dial_timeout"?`},
	{"projects is a mapping", tokens + "projects:\n  shop:\n    services: []\n", 6, "projects must be a list"},
	{"name is a list", tokens + "projects:\n  - name: [shop]\n", 6, "the project's name must be a single value, not a list"},
	{"recursive alias", good + "limits: &l\n  max_sessions: *l\n", 12, "must be a whole number"},
	{"hostname without suffixes", hosted("", "[api.example.com]"), 9,
		`hostname "api.example.com" needs hostname_suffixes: declare the suffix it ends in, e.g. hostname_suffixes: [example.com]`},
	{"hostname outside suffixes", hosted(suffixes, "[api.shop.svc.cluster.local, api.example.com]"), 10,
		`hostname "api.example.com" does not end in any of hostname_suffixes (svc.cluster.local): add its suffix to hostname_suffixes, or remove it`},
	{"hostname ends in a suffix's text only", hosted(suffixes, "[api.xsvc.cluster.local]"), 10, `hostname "api.xsvc.cluster.local" does not end in any`},
	{"hostname localhost", hosted("", "[localhost]"), 9, `hostname "localhost" is reserved: localhost, *.localhost, localhost.*, ip6-* and broadcasthost belong to the system's hosts file; choose another name`},
	{"hostname under localhost", hosted("", "[api.Localhost]"), 9, `hostname "api.Localhost" is reserved`},
	{"hostname starting with localhost", hosted("", "[localhost.svc.cluster.local]"), 9, "is reserved"},
	{"hostname ip6-", hosted("", "[ip6-loopback]"), 9, `hostname "ip6-loopback" is reserved`},
	{"hostname broadcasthost", hosted("", "[BroadcastHost]"), 9, "is reserved"},
	{"suffix localhost", hosted("hostname_suffixes: [.localhost]\n", "[]"), 5, `hostname suffix "localhost" is reserved`},
	{"suffix under localhost", hosted("hostname_suffixes: [svc.cluster.local, dev.localhost]\n", "[]"), 5, `hostname suffix "dev.localhost" is reserved`},
	{"suffix ip6-", hosted("hostname_suffixes:\n  - ip6-net\n", "[]"), 6, `hostname suffix "ip6-net" is reserved`},
	{"bad suffix", hosted("hostname_suffixes: [svc..cluster.local]\n", "[]"), 5, `hostname suffix "svc..cluster.local" has an empty part between dots`},
	// The hostname on line 9 does not end in the suffix either, but only
	// because the suffix is wrong: that is the problem to report.
	{"bad suffix after its hostnames", hosted("", "[api.svc.cluster.local]") + "hostname_suffixes: [svc.cluster.local.]\n", 12, `hostname suffix "svc.cluster.local." has an empty part`},
	{"suffix is an IP", hosted("hostname_suffixes: [10.0.0.0]\n", "[]"), 5, `hostname suffix "10.0.0.0" is an IP address`},
	{"suffix twice", hosted("hostname_suffixes: [svc.cluster.local, .SVC.cluster.local]\n", "[]"), 5, `hostname suffix "svc.cluster.local" is listed twice (first at line 5): remove one`},
	{"suffixes not a list", hosted("hostname_suffixes: svc.cluster.local\n", "[]"), 5, "hostname_suffixes must be a list: write hostname_suffixes: [svc.cluster.local]"},
	{"suffix not a string", hosted("hostname_suffixes: [[svc]]\n", "[]"), 5, "each of hostname_suffixes must be a single value, not a list"},
	{"zero handshakes", good + "limits:\n  max_handshakes: 0\n", 12, "max_handshakes 0 out of range: use 1-1073741824"},
	{"handshakes not a number", good + "limits:\n  max_handshakes_per_source: many\n", 12, `max_handshakes_per_source must be a whole number, not "many"`},
	{"handshakes per source above the total", good + "limits:\n  max_handshakes: 10\n  max_handshakes_per_source: 20\n", 13,
		"max_handshakes_per_source 20 is more than max_handshakes 10: set it to at most 10, or raise max_handshakes"},
	{"handshakes below the default per source", good + "limits:\n  max_handshakes: 8\n", 12,
		"max_handshakes 8 is less than max_handshakes_per_source, 32 by default: raise max_handshakes to 32 or more, or set max_handshakes_per_source to at most 8"},
	{"handshakes per source above the default total", good + "limits:\n  max_handshakes_per_source: 600\n", 12, "max_handshakes_per_source 600 is more than max_handshakes 512"},
}

// suffixes declares the suffix of the hostnames in most cases.
const suffixes = "hostname_suffixes: [svc.cluster.local]\n"

// hosted is a config whose service has hostnames (a YAML list), after the
// line or lines suffix. With suffix "", hostnames is line 9; with one line of
// suffix, line 10.
func hosted(suffix, hostnames string) string {
	return tokens + suffix + "projects:\n  - name: shop\n    services:\n      - name: api\n        hostnames: " + hostnames + "\n        ports:\n" + port
}

func TestParseBad(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s\ngot %+v", tc.yaml, c)
			}
			msg := err.Error()
			prefix := "bad.yaml:" + strconv.Itoa(tc.line) + ":"
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.phrase) {
				t.Errorf("error:\n  %s\nwant prefix %q and phrase %q", msg, prefix, tc.phrase)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error is not one line: %q", msg)
			}
			var e *Error
			if !errors.As(err, &e) || e.Line != tc.line || e.File != "bad.yaml" {
				t.Errorf("error %#v: want an *Error at bad.yaml line %d", err, tc.line)
			}
		})
	}
}

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{"defaults", good, func(t *testing.T, c *Config) {
			if c.Listen != "127.0.0.1:7443" || c.Path != "" || c.TLS != (TLS{}) {
				t.Errorf("Listen %q Path %q TLS %+v: want the defaults", c.Listen, c.Path, c.TLS)
			}
			if c.Limits != DefaultLimits() {
				t.Errorf("Limits %+v, want %+v", c.Limits, DefaultLimits())
			}
			p := c.Catalog.Projects[0].Services[0].Ports[0]
			if p.Protocol != catalog.TCP {
				t.Errorf("protocol %q, want TCP by default", p.Protocol)
			}
		}},
		{"env and secrets", withEnv(`URL: "postgres://app:{{secret \"pw\"}}@{{.Address}}:{{.Port \"http\"}}"`) + "secrets:\n  pw: {env: PW}\n  key: {file: key.txt}\n", func(t *testing.T, c *Config) {
			api := c.Catalog.Projects[0].Services[0]
			if api.Env["URL"] == "" || c.Secrets["pw"].Env != "PW" || c.Secrets["key"].File != "key.txt" {
				t.Errorf("env %v secrets %+v", api.Env, c.Secrets)
			}
		}},
		{"tcp and udp share a number", tokens + shop + "          - {port: 53, targets: [10.0.0.53:53]}\n          - {port: 53, protocol: udp, targets: [10.0.0.53:53]}\n", func(t *testing.T, c *Config) {
			ports := c.Catalog.Projects[0].Services[0].Ports
			if len(ports) != 2 || ports[1].Protocol != catalog.UDP {
				t.Errorf("ports %+v", ports)
			}
		}},
		{"some limits", good + "limits:\n  idle_timeout: 5m\n  max_sessions: 10\n", func(t *testing.T, c *Config) {
			want := DefaultLimits()
			want.IdleTimeout, want.MaxSessions = 5*time.Minute, 10
			if c.Limits != want {
				t.Errorf("Limits %+v, want %+v", c.Limits, want)
			}
		}},
		{"listen on a free port", good + "listen: ':0'\n", func(t *testing.T, c *Config) {
			if c.Listen != ":0" {
				t.Errorf("Listen %q", c.Listen)
			}
		}},
		{"empty sections", good + "tls:\nlimits: {}\n", func(t *testing.T, c *Config) {
			if c.TLS != (TLS{}) || c.Limits != DefaultLimits() {
				t.Errorf("TLS %+v Limits %+v", c.TLS, c.Limits)
			}
		}},
		{"hostname suffixes", hosted("hostname_suffixes: [.SVC.Cluster.Local, shop.internal]\n", "[API.shop.svc.cluster.local, svc.cluster.local, db.Shop.Internal]"), func(t *testing.T, c *Config) {
			if want := []string{"svc.cluster.local", "shop.internal"}; !reflect.DeepEqual(c.HostnameSuffixes, want) {
				t.Errorf("HostnameSuffixes %q, want %q: lower case, without the leading dot", c.HostnameSuffixes, want)
			}
		}},
		{"suffixes without hostnames", good + "hostname_suffixes: []\n", func(t *testing.T, c *Config) {
			if len(c.HostnameSuffixes) != 0 {
				t.Errorf("HostnameSuffixes %q", c.HostnameSuffixes)
			}
		}},
		{"as many handshakes per source as in all", good + "limits:\n  max_handshakes: 4\n  max_handshakes_per_source: 4\n", func(t *testing.T, c *Config) {
			want := DefaultLimits()
			want.MaxHandshakes, want.MaxHandshakesPerSource = 4, 4
			if c.Limits != want {
				t.Errorf("Limits %+v, want %+v", c.Limits, want)
			}
		}},
		{"no projects for a star token", "tokens: [{name: a, sha256: " + testHash + ", projects: ['*']}]\n", func(t *testing.T, c *Config) {
			if len(c.Catalog.Projects) != 0 {
				t.Errorf("projects %+v", c.Catalog.Projects)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("good.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, c)
			tc.check(t, c)
		})
	}
}

func TestLoadExample(t *testing.T) {
	c, err := Load(filepath.Join(fixtures, "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, c)
	want := &Config{
		Path:   filepath.Join(fixtures, "gateway.yaml"),
		Listen: "127.0.0.1:7443",
		TLS:    TLS{Cert: filepath.Join(fixtures, "gateway.crt"), Key: filepath.Join(fixtures, "gateway.key")},
		GatewayConfig: tunnel.GatewayConfig{
			HostnameSuffixes: []string{"svc.cluster.local"},
			Tokens:           []tunnel.Token{{Name: "alice", SHA256: mustSum(t, testHash), Projects: []string{"shop"}}},
			Catalog: catalog.Catalog{Projects: []catalog.Project{{
				Name: "shop",
				Services: []catalog.Resource{{
					Kind: catalog.Service, Project: "shop", Name: "api",
					Hostnames: []string{"api.shop.svc.cluster.local"},
					Ports: []catalog.Port{{Name: "http", Port: 8080, Protocol: catalog.HTTP,
						Targets: []string{"10.0.0.5:8080", "10.0.0.6:8080"}}},
				}},
				Addons: []catalog.Resource{{
					Kind: catalog.Addon, Project: "shop", Name: "db",
					Ports: []catalog.Port{{Name: "postgres", Port: 5432, Protocol: catalog.TCP,
						Targets: []string{"10.0.0.9:5432"}}},
				}},
			}}},
			Limits: DefaultLimits(),
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
}

func TestLoadFull(t *testing.T) {
	c, err := Load(filepath.Join(fixtures, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, c)
	if c.Listen != "0.0.0.0:8443" {
		t.Errorf("Listen %q", c.Listen)
	}
	if want := (TLS{Cert: filepath.Join(fixtures, "certs", "gateway.crt"), Key: "/etc/fwd/gateway.key"}); c.TLS != want {
		t.Errorf("TLS %+v, want %+v", c.TLS, want)
	}
	want := tunnel.Limits{MaxSessions: 64, MaxStreamsPerSession: 256, DialTimeout: 2 * time.Second,
		IdleTimeout: 30 * time.Minute, UDPFlowIdle: 90 * time.Second, ShutdownGrace: 500 * time.Millisecond,
		MaxHandshakes: 100, MaxHandshakesPerSource: 4}
	if c.Limits != want {
		t.Errorf("Limits %+v, want %+v", c.Limits, want)
	}
	if want := []string{"svc.cluster.local", "shop.internal"}; !reflect.DeepEqual(c.HostnameSuffixes, want) {
		t.Errorf("HostnameSuffixes %q, want %q", c.HostnameSuffixes, want)
	}
	if tok, err := c.Authenticate("ci"); err != nil || tok.Name != "ci" || !tok.Allows("blog") {
		t.Errorf(`Authenticate("ci") = %+v, %v: want the "*" token (its hash was upper case with a sha256: prefix)`, tok, err)
	}
	api, err := c.Catalog.Lookup(catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if got := []catalog.Protocol{api.Ports[0].Protocol, api.Ports[1].Protocol}; got[0] != catalog.HTTP || got[1] != catalog.HTTP2 {
		t.Errorf("protocols %v, want HTTP, HTTP2", got)
	}
	blog, err := c.Catalog.Lookup(catalog.ID{Project: "blog", Kind: catalog.Service, Name: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(blog.Ports[0].Targets, api.Ports[0].Targets) {
		t.Errorf("aliased targets %v, want %v", blog.Ports[0].Targets, api.Ports[0].Targets)
	}
	dns, err := c.Catalog.Lookup(catalog.ID{Project: "shop", Kind: catalog.Service, Name: "dns"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dns.Port(53, "udp"); err != nil {
		t.Error(err)
	}
	if _, err := dns.Port(53, "tcp"); err != nil {
		t.Error(err)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(fixtures, "bad-port.yaml"))
	if want := filepath.Join(fixtures, "bad-port.yaml") + ":11:19: port 70000 out of range: use 1-65535"; err == nil || err.Error() != want {
		t.Errorf("Load bad-port.yaml: %v\nwant %s", err, want)
	}
	_, err = Load(filepath.Join(fixtures, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load missing.yaml: %v, want fs.ErrNotExist", err)
	}
}

func TestErrorWraps(t *testing.T) {
	_, err := Parse("bad.yaml", []byte(tokens+shop+"          - {port: 1, protocol: x, targets: [a:1]}\n"))
	var e *Error
	if !errors.As(err, &e) || e.Err == nil || !strings.Contains(e.Err.Error(), "unknown protocol") {
		t.Errorf("protocol error %#v does not wrap catalog.ParseProtocol's", err)
	}
	_, err = Parse("bad.yaml", []byte("listen: [\n"))
	if !errors.As(err, &e) || e.Err == nil || !strings.HasPrefix(e.Err.Error(), "yaml:") {
		t.Errorf("syntax error %#v does not wrap yaml's", err)
	}
}

func TestValidate(t *testing.T) {
	c, err := Parse("", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate of a parsed config: %v", err)
	}
	c.Catalog.Projects[0].Services[0].Ports[0].Targets = nil
	err = c.Validate()
	if want := "config: projects[0].services[0].ports[0].targets: port 8080 has no targets"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Validate: %v\nwant %s...", err, want)
	}
	c.Catalog.Projects[0].Services[0].Ports[0].Targets = []string{"10.0.0.5:8080"}
	c.Catalog.Projects[0].Services[0].Kind = catalog.Addon
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `has Kind "addon"`) {
		t.Errorf("Validate with a wrong Kind: %v", err)
	}
}

func TestAliasBomb(t *testing.T) {
	// 100 projects of 100 services of 100 ports of 100 targets, by aliases.
	times := func(alias string) string { return strings.Repeat(", "+alias, 99) }
	var b strings.Builder
	b.WriteString(tokens + "projects:\n")
	b.WriteString("  - &p {name: shop, services: [&s {name: api, ports: [&port {port: 1, targets: [a:1" + times("a:1") + "]}" +
		times("*port") + "]}" + times("*s") + "]}\n")
	b.WriteString("  - *p" + strings.Repeat("\n  - *p", 98) + "\n")
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand to too many values") {
		t.Fatalf("Parse of an alias bomb: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %s", d)
	}
}

func mustSum(t *testing.T, h string) [32]byte {
	t.Helper()
	sum, err := parseSHA256(h)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// checkInvariants checks what every accepted config promises, independently
// of check.
func checkInvariants(t *testing.T, c *Config) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("accepted config does not validate: %v", err)
	}
	if len(c.Tokens) == 0 {
		t.Fatal("accepted config has no tokens")
	}
	for _, tok := range c.Tokens {
		if tok.Name == "" || len(tok.Projects) == 0 || tok.SHA256 == [32]byte{} {
			t.Fatalf("accepted token %+v", tok)
		}
	}
	for _, p := range c.Catalog.Projects {
		for _, kind := range []catalog.Kind{catalog.Service, catalog.Addon} {
			for _, r := range p.Resources(kind) {
				if r.Kind != kind || r.Project != p.Name || r.Name == "" || len(r.Ports) == 0 {
					t.Fatalf("accepted resource %+v in project %q", r, p.Name)
				}
				if _, err := c.Catalog.Lookup(r.ID()); err != nil {
					t.Fatal(err)
				}
				for _, h := range r.Hostnames {
					if ReservedHostname(h) || !MatchesSuffix(h, c.HostnameSuffixes) {
						t.Fatalf("accepted hostname %q of %s with hostname_suffixes %q", h, r.ID(), c.HostnameSuffixes)
					}
				}
				for _, port := range r.Ports {
					if port.Port == 0 || len(port.Targets) == 0 {
						t.Fatalf("accepted port %+v of %s", port, r.ID())
					}
					if _, err := catalog.ParseProtocol(string(port.Protocol)); err != nil {
						t.Fatalf("accepted port %+v of %s: %v", port, r.ID(), err)
					}
				}
			}
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		t.Fatalf("accepted TLS %+v", c.TLS)
	}
	l := c.Limits
	if l.MaxSessions < 1 || l.MaxStreamsPerSession < 1 || l.DialTimeout <= 0 || l.IdleTimeout < 0 || l.UDPFlowIdle <= 0 || l.ShutdownGrace <= 0 ||
		l.MaxHandshakes < 1 || l.MaxHandshakesPerSource < 1 || l.MaxHandshakesPerSource > l.MaxHandshakes {
		t.Fatalf("accepted limits %+v", l)
	}
	for _, s := range c.HostnameSuffixes {
		if s != strings.ToLower(strings.TrimPrefix(s, ".")) || ReservedHostname(s) {
			t.Fatalf("accepted hostname suffix %q", s)
		}
	}
}

func TestLoadTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		c, err := Load(name)
		if bad := strings.HasPrefix(filepath.Base(name), "bad-"); bad != (err != nil) {
			t.Errorf("Load(%s): %v", name, err)
			continue
		}
		if c != nil {
			checkInvariants(t, c)
		}
	}
}

// TestValidateNewRules checks hostname_suffixes and the handshake limits on a
// Config built in code, which Parse has not normalized.
func TestValidateNewRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"suffix not normalized", func(c *Config) { c.HostnameSuffixes = []string{".Shop.Internal"} },
			`config: hostname_suffixes[0]: hostname suffix ".Shop.Internal" must be in lower case without a leading dot: write "shop.internal"`},
		{"hostname outside suffixes", func(c *Config) {
			c.HostnameSuffixes = []string{"shop.internal"}
			c.Catalog.Projects[0].Services[0].Hostnames = []string{"api.shop.internal", "api.example.com"}
		}, `config: projects[0].services[0].hostnames[1]: hostname "api.example.com" does not end in any of hostname_suffixes (shop.internal)`},
		{"zero handshakes", func(c *Config) { c.Limits.MaxHandshakes = 0 },
			"config: limits.max_handshakes: max_handshakes is 0: use 1 or more"},
		{"zero handshakes per source", func(c *Config) { c.Limits.MaxHandshakesPerSource = 0 },
			"config: limits.max_handshakes_per_source: max_handshakes_per_source is 0: use 1 or more"},
		{"handshakes per source above the total", func(c *Config) { c.Limits.MaxHandshakes = 16 },
			"config: limits.max_handshakes_per_source: max_handshakes_per_source 32 is more than max_handshakes 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("", []byte(good))
			if err != nil {
				t.Fatal(err)
			}
			tc.change(c)
			if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Validate: %v\nwant %s...", err, tc.want)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	l := DefaultLimits()
	if l.MaxHandshakes != 512 || l.MaxHandshakesPerSource != 32 {
		t.Errorf("DefaultLimits: MaxHandshakes %d, MaxHandshakesPerSource %d; want 512 and 32", l.MaxHandshakes, l.MaxHandshakesPerSource)
	}
}

// fixtures holds the config files tests load (testdata/README.md).
const fixtures = "../../testdata/config"
