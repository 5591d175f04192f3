package configedit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const config = `# The gateway of the shop.
listen: 127.0.0.1:7443   # loopback only
tokens:
  - name: alice
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    projects: [shop, blog]

projects:
  - name: shop
    services:
      # the API, behind the load balancer
      - name: api
        ports:
          - name: http
            port: 8080
            protocol: "HTTP"      # quoted on purpose
            targets: [10.0.0.5:8080]

      - name: dns
        ports:
          - {name: dns, port: 53, targets: [10.0.0.53:53]}
    addons:
      - name: db
        ports: [{name: postgres, port: 5432, targets: [db:5432]}]
  # the blog has only addons for now
  - name: blog
    addons:
      - name: cache
        ports:
        - port: 6379
          targets: [10.0.0.10:6379]

limits:
  dial_timeout: 5s
`

// catalog is the part of a config these tests read back.
type catalog struct {
	Projects []struct {
		Name     string
		Services []resource
		Addons   []resource
	}
}

type resource struct {
	Name  string
	Ports []struct {
		Name     string
		Port     int
		Protocol string
		Targets  []string
	}
}

func (c catalog) ports(t *testing.T, project, kind, name string) map[int]string {
	t.Helper()
	for _, p := range c.Projects {
		if p.Name != project {
			continue
		}
		list := p.Services
		if kind == "addons" {
			list = p.Addons
		}
		for _, r := range list {
			if r.Name == name {
				out := map[int]string{}
				for _, port := range r.Ports {
					out[port.Port] = port.Name + " " + port.Protocol + " " + strings.Join(port.Targets, ",")
				}
				return out
			}
		}
	}
	t.Fatalf("no %s %s in project %s", kind, name, project)
	return nil
}

// onlyInserted fails unless out is in with one run of bytes inserted, and
// returns that run. When the run could start at several places (it begins
// with the bytes that follow it) the earliest is taken.
func onlyInserted(t *testing.T, in, out []byte) string {
	t.Helper()
	p := 0
	for p < len(in) && p < len(out) && in[p] == out[p] {
		p++
	}
	if !bytes.HasSuffix(out, in[p:]) || len(out) < len(in) {
		t.Fatalf("not one insertion: the bytes after offset %d changed\n--- in\n%s\n--- out\n%s", p, in, out)
	}
	return string(out[p : len(out)-(len(in)-p)])
}

// insertedExactly fails unless out is in with want inserted once, every
// other byte as it was.
func insertedExactly(t *testing.T, in, out []byte, want string) {
	t.Helper()
	for i := 0; i+len(want) <= len(out); i++ {
		if string(out[i:i+len(want)]) == want && string(out[:i])+string(out[i+len(want):]) == string(in) {
			return
		}
	}
	t.Errorf("out is not in with %q inserted:\n%s", want, out)
}

func TestAddPortsKeepsEveryOtherByte(t *testing.T) {
	web := Port{Name: "metrics", Number: 9090, Protocol: "HTTP", Targets: []string{"api:9090"}}
	udp := Port{Name: "dns-udp", Number: 53, Protocol: "UDP", Targets: []string{"10.0.0.53:53"}}
	cases := []struct {
		name      string
		at        Place
		ports     []Port
		want      map[int]string // port -> "name protocol targets" of the resource afterwards
		inserted  string         // the exact text inserted
		kept      int
		inputEdit func(string) string
	}{
		{
			name:     "block ports list",
			at:       Place{"shop", "services", "api"},
			ports:    []Port{web},
			want:     map[int]string{8080: "http HTTP 10.0.0.5:8080", 9090: "metrics HTTP api:9090"},
			inserted: "          - name: metrics\n            port: 9090\n            protocol: HTTP\n            targets: [api:9090]\n",
		},
		{
			name:     "block list of flow items",
			at:       Place{"shop", "services", "dns"},
			ports:    []Port{udp},
			want:     map[int]string{53: "dns-udp UDP 10.0.0.53:53"},
			inserted: "          - {name: dns-udp, port: 53, protocol: UDP, targets: [10.0.0.53:53]}\n",
		},
		{
			name:     "flow list",
			at:       Place{"shop", "addons", "db"},
			ports:    []Port{{Name: "metrics", Number: 9187, Protocol: "HTTP", Targets: []string{"[fd00::9]:9187"}}},
			want:     map[int]string{5432: "postgres  db:5432", 9187: `metrics HTTP [fd00::9]:9187`},
			inserted: `, {name: metrics, port: 9187, protocol: HTTP, targets: ["[fd00::9]:9187"]}`,
		},
		{
			name:     "new service in a list",
			at:       Place{"shop", "services", "worker"},
			ports:    []Port{{Name: "3000", Number: 3000, Protocol: "HTTP", Targets: []string{"worker:3000"}}},
			want:     map[int]string{3000: "3000 HTTP worker:3000"},
			inserted: "      - name: worker\n        ports:\n          - name: \"3000\"\n            port: 3000\n            protocol: HTTP\n            targets: [worker:3000]\n",
		},
		{
			name:     "new services key",
			at:       Place{"blog", "services", "web"},
			ports:    []Port{{Name: "http", Number: 80, Protocol: "HTTP", Targets: []string{"web:80"}}},
			want:     map[int]string{80: "http HTTP web:80"},
			inserted: "    services:\n      - name: web\n        ports:\n          - name: http\n            port: 80\n            protocol: HTTP\n            targets: [web:80]\n",
		},
		{
			name:     "indentless list",
			at:       Place{"blog", "addons", "cache"},
			ports:    []Port{{Name: "redis-tls", Number: 6380, Protocol: "TCP", Targets: []string{"10.0.0.10:6380"}}},
			want:     map[int]string{6379: "  10.0.0.10:6379", 6380: "redis-tls TCP 10.0.0.10:6380"},
			inserted: "        - name: redis-tls\n          port: 6380\n          protocol: TCP\n          targets: [10.0.0.10:6380]\n",
		},
		{
			name:     "a port it has already",
			at:       Place{"shop", "services", "api"},
			ports:    []Port{{Name: "http", Number: 8080, Protocol: "HTTP", Targets: []string{"api:8080"}}, web},
			want:     map[int]string{8080: "http HTTP 10.0.0.5:8080", 9090: "metrics HTTP api:9090"},
			kept:     1,
			inserted: "          - name: metrics\n            port: 9090\n            protocol: HTTP\n            targets: [api:9090]\n",
		},
		{
			name:      "no newline at the end",
			at:        Place{"blog", "addons", "cache"},
			ports:     []Port{{Name: "redis-tls", Number: 6380, Protocol: "TCP", Targets: []string{"10.0.0.10:6380"}}},
			inputEdit: func(s string) string { return strings.TrimSuffix(s, "\n\nlimits:\n  dial_timeout: 5s\n") },
			want:      map[int]string{6379: "  10.0.0.10:6379", 6380: "redis-tls TCP 10.0.0.10:6380"},
			inserted:  "\n        - name: redis-tls\n          port: 6380\n          protocol: TCP\n          targets: [10.0.0.10:6380]\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := config
			if c.inputEdit != nil {
				in = c.inputEdit(in)
			}
			out, added, kept, err := AddPorts([]byte(in), c.at, c.ports)
			if err != nil {
				t.Fatal(err)
			}
			if len(kept) != c.kept || len(added) != len(c.ports)-c.kept {
				t.Errorf("added %v, kept %v", added, kept)
			}
			onlyInserted(t, []byte(in), out)
			insertedExactly(t, []byte(in), out, c.inserted)
			var cat catalog
			if err := yaml.Unmarshal(out, &cat); err != nil {
				t.Fatalf("result does not parse: %v\n%s", err, out)
			}
			ports := cat.ports(t, c.at.Project, c.at.Kind, c.at.Name)
			for n, want := range c.want {
				if ports[n] != want {
					t.Errorf("port %d: %q, want %q\n%s", n, ports[n], want, out)
				}
			}
		})
	}
}

func TestAddPortsCRLF(t *testing.T) {
	in := strings.ReplaceAll(config, "\n", "\r\n")
	out, _, _, err := AddPorts([]byte(in), Place{"shop", "services", "api"}, []Port{{Name: "grpc", Number: 9000, Protocol: "TCP", Targets: []string{"api:9000"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := onlyInserted(t, []byte(in), out)
	if strings.Count(got, "\r\n") != 4 || strings.Count(got, "\n") != 4 {
		t.Errorf("inserted %q: want four CRLF lines", got)
	}
}

func TestAddPortsRefusals(t *testing.T) {
	p := []Port{{Name: "http", Number: 80, Protocol: "HTTP", Targets: []string{"web:80"}}}
	for _, c := range []struct{ name, config, want string }{
		{"unknown project", config, `no project "nope": use one of shop, blog`},
		{"no projects", "listen: 127.0.0.1:7443\n", "no projects: list"},
		{"not a mapping", "- a\n- b\n", "not a YAML mapping"},
	} {
		_, _, _, err := AddPorts([]byte(c.config), Place{"nope", "services", "web"}, p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestAddPortsToFileLeavesABadResultUnwritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(config), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink("gateway.yaml", link); err != nil {
		t.Fatal(err)
	}
	p := []Port{{Name: "http", Number: 80, Protocol: "HTTP", Targets: []string{"web:80"}}}
	refuse := func(_, _ []byte) error { return os.ErrInvalid }
	if _, _, err := AddPortsToFile(link, Place{"shop", "services", "web"}, p, refuse); err == nil {
		t.Fatal("a result the check refused was written")
	}
	if b, _ := os.ReadFile(path); string(b) != config {
		t.Fatal("the file changed although the check refused the result")
	}
	added, _, err := AddPortsToFile(link, Place{"shop", "services", "web"}, p, nil)
	if err != nil || len(added) != 1 {
		t.Fatalf("added %v, %v", added, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is no longer a link: %v %v", fi.Mode(), err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's own 0640", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	onlyInserted(t, []byte(config), b)
}
