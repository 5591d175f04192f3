package projectfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// docExample is the file in doc.go's package documentation, which users
// copy: its lines indented by a tab after "//".
func docExample(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "// An example with every key:\n")
	if !ok {
		t.Fatal(`doc.go has no "An example with every key:"`)
	}
	var b strings.Builder
	for _, line := range strings.Split(rest, "\n") {
		code, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			if b.Len() > 0 && line == "//" {
				break
			}
			continue
		}
		b.WriteString(code + "\n")
	}
	return b.String()
}

var docPorts = []Port{
	{LocalPort: 3000, Name: "web", Auth: "demo:s3cret"},
	{LocalPort: 5432, Name: "db", TCP: true},
	{LocalPort: 8080, ExposeLocalhost: true},
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDocExample(t *testing.T) {
	path := write(t, t.TempDir(), "fwd.yaml", docExample(t))
	f, err := Load(path)
	if err != nil {
		t.Fatalf("the documented example does not load: %v", err)
	}
	if f.Path != path || !slices.Equal(f.Ports, docPorts) {
		t.Errorf("loaded %+v\nwant path %s, ports %+v", f, path, docPorts)
	}
}

func TestValidForms(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []Port
	}{
		{"flow style", "ports: [{local_port: 1}, {local_port: 65535, name: a-1, tcp: false}]\n",
			[]Port{{LocalPort: 1}, {LocalPort: 65535, Name: "a-1"}}},
		{"auth with tcp false, empty password", "ports:\n- local_port: 80\n  tcp: false\n  auth: 'me:'\n",
			[]Port{{LocalPort: 80, Auth: "me:"}}},
		{"booleans in capitals, hex port", "ports:\n  - local_port: 0x1F90\n    expose_localhost: True\n    tcp: FALSE\n",
			[]Port{{LocalPort: 8080, ExposeLocalhost: true}}},
		{"digits and a 40-character name", "ports:\n  - local_port: 3000\n    name: 0123456789012345678901234567890123456789\n",
			[]Port{{LocalPort: 3000, Name: "0123456789012345678901234567890123456789"}}},
		{"an alias", "ports:\n  - &web {local_port: 3000, name: web}\n  - {local_port: 3001, tcp: &t true}\n  - {local_port: 3002, tcp: *t}\n",
			[]Port{{LocalPort: 3000, Name: "web"}, {LocalPort: 3001, TCP: true}, {LocalPort: 3002, TCP: true}}},
		{"byte order mark and comments", "\ufeff# the app\nports: # all of them\n  - local_port: 3000 # web\n",
			[]Port{{LocalPort: 3000}}},
	} {
		f, err := parse("fwd.yaml", []byte(c.text))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(f.Ports, c.want) {
			t.Errorf("%s: ports %+v, want %+v", c.name, f.Ports, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		// Keys.
		{"ports:\n  - local_port: 3000\n    locl_port: 3001\n",
			`fwd.yaml:3:5: unknown key "locl_port" in a port: did you mean "local_port"?`},
		{"ports:\n  - local_port: 3000\n    colour: red\n",
			`fwd.yaml:3:5: unknown key "colour" in a port: the keys here are local_port, name, tcp, expose_localhost and auth`},
		{"prots:\n  - local_port: 3000\n",
			`fwd.yaml:1:1: unknown key "prots" at the top level: did you mean "ports"?`},
		{"ports:\n  - local_port: 3000\nversion: 2\n",
			`fwd.yaml:3:1: unknown key "version" at the top level: the only key here is ports`},
		{"local_port: 3000\n",
			`fwd.yaml:1:1: local_port belongs to a port, not to the top level: list it under ports:, like "- local_port: 3000"`},
		{"ports:\n  - local_port: 3000\n    name: a\n    name: b\n",
			`fwd.yaml:4:5: duplicate key "name" in a port (first at line 3): remove one`},
		{"ports:\n  - local_port: 1\nports:\n  - local_port: 2\n",
			`fwd.yaml:3:1: duplicate key "ports" in the project file (first at line 1): remove one`},
		{"p: &p {local_port: 1}\n",
			`fwd.yaml:1:1: unknown key "p" at the top level: the only key here is ports`},
		{"ports:\n  - <<: {local_port: 1}\n",
			`fwd.yaml:2:5: merge keys (<<) are not supported: write the keys out`},

		// The file and ports:.
		{"", `fwd.yaml:1:1: the project file is empty: add ports: with a port under it, like "- local_port: 3000"`},
		{"# nothing yet\n", `fwd.yaml:1:1: the project file is empty: add ports: with a port under it, like "- local_port: 3000"`},
		{"- local_port: 3000\n",
			`fwd.yaml:1:1: the project file must be a mapping with ports:, not a list: start it with ports: and list the ports under it, like "- local_port: 3000"`},
		{"{}\n", `fwd.yaml:1:1: the project file has no ports: add ports: with a port under it, like "- local_port: 3000"`},
		{"ports:\n", `fwd.yaml:1:1: ports is empty: add a port under it, like "- local_port: 3000"`},
		{"# fwd.yaml\nports: []\n", `fwd.yaml:2:8: ports is empty: add a port, like "- local_port: 3000"`},
		{"ports: 3000\n", `fwd.yaml:1:8: ports must be a list of ports, not "3000": write each port under it, like "- local_port: 3000"`},
		{"ports:\n  local_port: 3000\n", `fwd.yaml:2:3: ports must be a list, not a mapping: start each port with "- ", like "- local_port: 3000"`},
		{"ports: [3000]\n", `fwd.yaml:1:9: a port must be a mapping of keys, not the number 3000: write "- local_port: 3000"`},
		{"ports:\n  - web\n", `fwd.yaml:2:5: a port must be a mapping of keys, not "web": write it as "- local_port: 3000"`},
		{"ports:\n  -\n  - local_port: 3\n", `fwd.yaml:2:4: this port is empty: write it as "- local_port: 3000"`},
		{"ports: [{}]\n", `fwd.yaml:1:9: a port has no local_port: add local_port: with the number of the port on this machine to publish`},
		{"ports:\n  - name: web\n", `fwd.yaml:2:5: a port has no local_port: add local_port: with the number of the port on this machine to publish`},

		// local_port.
		{"ports:\n  - local_port: 70000\n", `fwd.yaml:2:17: local_port 70000 out of range: use 1-65535`},
		{"ports:\n  - local_port: 0\n", `fwd.yaml:2:17: local_port 0 out of range: use 1-65535`},
		{"ports:\n  - local_port: -80\n", `fwd.yaml:2:17: local_port -80 out of range: use 1-65535`},
		{"ports:\n  - local_port: 99999999999999999999\n", `fwd.yaml:2:17: local_port 99999999999999999999 out of range: use 1-65535`},
		{"ports:\n  - local_port: \"3000\"\n", `fwd.yaml:2:17: local_port must be a whole number, not "3000": write the number without quotes`},
		{"ports:\n  - local_port: web\n", `fwd.yaml:2:17: local_port must be a whole number, not "web": use a port number, 1-65535`},
		{"ports:\n  - local_port:\n", `fwd.yaml:2:16: local_port must be a whole number, not empty: use a port number, 1-65535`},
		{"ports:\n  - local_port: 3000\n  - local_port: 8080\n  - local_port: 3000\n",
			`fwd.yaml:4:17: duplicate local_port 3000 (first at line 2): remove one of them`},

		// name.
		{"ports:\n  - local_port: 1\n    name: Web\n", `fwd.yaml:3:11: name "Web" may hold only lowercase letters, digits and '-': try "web"`},
		{"ports:\n  - local_port: 1\n    name: my_app\n", `fwd.yaml:3:11: name "my_app" may hold only lowercase letters, digits and '-': try "my-app"`},
		{"ports:\n  - local_port: 1\n    name: -web\n", `fwd.yaml:3:11: name "-web" starts or ends with '-': try "web"`},
		{"ports:\n  - local_port: 1\n    name: web-\n", `fwd.yaml:3:11: name "web-" starts or ends with '-': try "web"`},
		{"ports:\n  - local_port: 1\n    name: a--b\n", `fwd.yaml:3:11: name "a--b" has "--", which DNS keeps for encoded names: try "a-b"`},
		{"ports:\n  - local_port: 1\n    name: \"---\"\n", `fwd.yaml:3:11: name "---" starts or ends with '-': use lowercase letters, digits and '-'`},
		{"ports:\n  - local_port: 1\n    name: " + strings.Repeat("a", 41) + "\n", `fwd.yaml:3:11: name "` + strings.Repeat("a", 41) + `" is 41 characters long: use at most 40`},
		{"ports:\n  - local_port: 1\n    name: \"\"\n", `fwd.yaml:3:11: name is empty: write a name like web, or remove name: to let fwd pick one`},
		{"ports:\n  - local_port: 1\n    name: [web]\n", `fwd.yaml:3:11: name must be a single value, not a list: write a name like web, or remove name: to let fwd pick one`},
		{"ports:\n  - {local_port: 1, name: web}\n  - {local_port: 2, name: web}\n",
			`fwd.yaml:3:27: duplicate name "web" (first at line 2): give each port its own name`},

		// tcp and expose_localhost.
		{"ports:\n  - local_port: 1\n    tcp: yes\n", `fwd.yaml:3:10: tcp must be true or false, not "yes": write tcp: true, or remove it for false`},
		{"ports:\n  - local_port: 1\n    expose_localhost: 1\n",
			`fwd.yaml:3:23: expose_localhost must be true or false, not "1": write expose_localhost: true, or remove it for false`},

		// auth.
		{"ports:\n  - local_port: 1\n    auth: demo\n", `fwd.yaml:3:11: auth has no ':' between user and password: write it as user:password`},
		{"ports:\n  - local_port: 1\n    auth: \":s3cret\"\n", `fwd.yaml:3:11: auth has no user before its ':': write it as user:password`},
		{"ports:\n  - local_port: 1\n    auth:\n", `fwd.yaml:3:10: auth is empty: write it as user:password, or remove auth:`},
		{"ports:\n  - local_port: 5432\n    auth: demo:s3cret\n    tcp: true\n",
			`fwd.yaml:3:5: auth is for HTTPS exposures, and this port has tcp: true: remove auth, or tcp: true to publish it over HTTPS`},

		// YAML itself.
		{"ports:\n\t- local_port: 1\n", `fwd.yaml:2:1: a tab indents this line, and YAML allows only spaces: indent with spaces`},
		{"ports:\r  - local_port: 1\r", `fwd.yaml:1:7: a line ends with a carriage return without a line feed (an old Mac line ending): save the file with LF (or CR LF) line endings`},
		{"ports:\n  - local_port: 1\u0085", `fwd.yaml:2:18: a line ends with a next-line character (U+0085): save the file with LF (or CR LF) line endings`},
		{"ports:\n  - local_port: 1\n   name: x\n", `fwd.yaml:3: invalid YAML (did not find expected '-' indicator): fix this line`},
		{"ports:\n  - local_port: 1\n    name: \"web\n", `fwd.yaml:3: invalid YAML (found unexpected end of stream): fix this line`},
		{"ports:\n  - local_port: 1\n---\nports:\n  - local_port: 2\n",
			`fwd.yaml:3:1: a second YAML document starts here: put all ports in one list under one ports:, and remove the ---`},
	} {
		f, err := parse("fwd.yaml", []byte(c.text))
		if err == nil {
			t.Errorf("%q parsed to %+v, want %s", c.text, f, c.want)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%q:\ngot  %s\nwant %s", c.text, err, c.want)
		}
		var fe *Error
		if !errors.As(err, &fe) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v is not a one-line *Error", c.text, err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the message repeats the password: %s", c.text, err)
		}
	}
}

func TestFind(t *testing.T) {
	const one, two = "ports:\n  - local_port: 1\n", "ports:\n  - local_port: 2\n"

	dir := t.TempDir()
	if f, err := Find(dir); f != nil || err != nil {
		t.Errorf("Find in an empty directory = %+v, %v; want nil, nil", f, err)
	}

	hidden := write(t, dir, ".fwd.yaml", two)
	if f, err := Find(dir); err != nil || f.Path != hidden || f.Ports[0].LocalPort != 2 {
		t.Errorf("Find with .fwd.yaml only = %+v, %v; want %s", f, err, hidden)
	}

	write(t, dir, "fwd.yaml", one)
	f, err := Find(dir)
	if err == nil || f != nil {
		t.Fatalf("Find with both = %+v, %v; want an error", f, err)
	}
	for _, want := range []string{"fwd.yaml", ".fwd.yaml", "keep one"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Find with both: %q does not say %q", err, want)
		}
	}

	if err := os.Remove(hidden); err != nil {
		t.Fatal(err)
	}
	if f, err := Find(dir); err != nil || f.Path != filepath.Join(dir, "fwd.yaml") || f.Ports[0].LocalPort != 1 {
		t.Errorf("Find with fwd.yaml only = %+v, %v", f, err)
	}

	// Its errors name the file by its path in dir.
	bad := write(t, dir, "fwd.yaml", "ports: []\n")
	if _, err := Find(dir); err == nil || !strings.HasPrefix(err.Error(), bad+":1:8: ") {
		t.Errorf("Find of a bad file: %v, want an error at %s:1:8", err, bad)
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "fwd.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want ErrNotExist", err)
	}
	big := write(t, dir, "big.yaml", "# "+strings.Repeat("x", maxSize)+"\n")
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Load of a %d-byte file: %v, want too large", maxSize, err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load of a directory succeeded")
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "web", "db-1", "0", "x1-y2-z3", strings.Repeat("a", 40)} {
		if p := checkName(ok); p != "" {
			t.Errorf("checkName(%q) = %q, want it valid", ok, p)
		}
	}
	for _, s := range []string{"Web", "-a", "a-", "a--b", "a.b", "ä", "a b", strings.Repeat("a", 41)} {
		if checkName(s) == "" {
			t.Errorf("checkName(%q) accepted it", s)
		}
		if fixed := fixName(s); fixed != "" && checkName(fixed) != "" {
			t.Errorf("fixName(%q) = %q, which is not valid either", s, fixed)
		}
	}
}

// FuzzParse: whatever the bytes, parse returns a file with ports or a
// one-line *Error, and never fails the process.
func FuzzParse(f *testing.F) {
	f.Add([]byte("ports:\n  - local_port: 3000\n    name: web\n"))
	f.Add([]byte("ports:\n\t- local_port: 1\n"))
	f.Add([]byte("ports:\n  - local_port: \"1\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("ports:\r  - local_port: 1\r    name: \"web\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parse("fwd.yaml", data)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Line < 1 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%q: %v (%T) is not a one-line *Error", data, err, err)
			}
			return
		}
		if len(file.Ports) == 0 {
			t.Fatalf("%q parsed to a file without ports", data)
		}
		for _, p := range file.Ports {
			if p.LocalPort == 0 || checkName(p.Name) != "" && p.Name != "" || p.TCP && p.Auth != "" {
				t.Fatalf("%q parsed to an invalid port %+v", data, p)
			}
		}
	})
}
