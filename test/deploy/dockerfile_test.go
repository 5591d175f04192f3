package deploy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// root is the repository's top, from this package's directory.
const root = "../.."

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	line int    // where it starts
	cmd  string // upper case: FROM, RUN, ...
	args string // the rest, as written
}

// stage is one FROM and what follows it up to the next.
type stage struct {
	name  string // AS name, or ""
	base  string
	instr []instruction
}

// parseDockerfile reads a Dockerfile the way BuildKit's parser does for
// what these tests look at: parser directives (escape) at the top,
// comment lines dropped (also inside a continued instruction), lines
// ending in the escape character joined to the next. Heredocs are
// refused rather than misread.
//
// BuildKit's own parser (github.com/moby/buildkit/frontend/dockerfile/parser)
// would raise the module's grpc and go-md2man (which renders the man
// pages) to what buildkit requires, for a test: too much for what it
// would check beyond this.
func parseDockerfile(text string) ([]stage, error) {
	escape := `\`
	lines := strings.Split(text, "\n")
	directives := true
	var (
		stages []stage
		cur    *instruction
		out    []instruction
	)
	for i, raw := range lines {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(trimmed, "#") {
			if directives && cur == nil {
				if m := regexp.MustCompile(`^#\s*([a-zA-Z]+)\s*=\s*(.*)$`).FindStringSubmatch(trimmed); m != nil {
					if strings.EqualFold(m[1], "escape") {
						escape = m[2]
					}
					continue
				}
			}
			directives = false
			continue // a comment, even between continuation lines
		}
		directives = false
		if trimmed == "" && cur == nil {
			continue
		}
		cont := strings.HasSuffix(line, escape)
		if cont {
			line = strings.TrimSuffix(line, escape)
		}
		if cur == nil {
			cmd, args, _ := strings.Cut(trimmed, " ")
			if cont {
				args = strings.TrimSuffix(args, escape)
			}
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + strings.TrimSpace(line)
		}
		if !cont {
			if strings.Contains(cur.args, "<<") && (cur.cmd == "RUN" || cur.cmd == "COPY") {
				return nil, fmt.Errorf("line %d: heredocs are not understood by this check", cur.line)
			}
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: the last instruction ends in a continuation", cur.line)
	}
	for _, in := range out {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			s := stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			if in.cmd != "ARG" {
				return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
			}
		default:
			stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
		}
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return stages, nil
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func (s stage) last(cmd string) (instruction, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

// goBuild is the Dockerfile's go build of fwd: the RUN that holds it, its
// output path and its package.
type goBuild struct {
	run     instruction
	out     string
	pkg     string
	workdir string
}

func findGoBuild(s stage) (goBuild, error) {
	var b goBuild
	if wd, ok := s.last("WORKDIR"); ok {
		b.workdir = wd.args
	}
	for _, run := range s.all("RUN") {
		if !strings.Contains(run.args, "go build") {
			continue
		}
		b.run = run
		f := strings.Fields(run.args[strings.Index(run.args, "go build"):])
		for i := 2; i < len(f); i++ {
			switch {
			case f[i] == "-o" && i+1 < len(f):
				b.out = f[i+1]
				i++
			case strings.HasPrefix(f[i], "-o="):
				b.out = strings.TrimPrefix(f[i], "-o=")
			case strings.HasPrefix(f[i], "-ldflags="), strings.HasPrefix(f[i], "-"):
				// A quoted -ldflags value may hold spaces.
				if strings.Count(f[i], `"`) == 1 {
					for i++; i < len(f) && !strings.Contains(f[i], `"`); i++ {
					}
				}
			default:
				b.pkg = f[i]
			}
		}
		return b, nil
	}
	return b, fmt.Errorf("stage %s has no RUN with go build", s.name)
}

// TestDockerfile checks what the image must be without building it (no
// Docker engine here): a static fwd built in one stage, copied into a
// non-root final stage that runs fwd gateway in exec form.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dockerfileProblems(string(b)) {
		t.Error("Dockerfile: " + p)
	}
}

// TestDockerfileProblemsFound: each check fails for the Dockerfile it is
// there to catch.
func TestDockerfileProblemsFound(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"root", "USER 65532:65532", "USER root", "numeric non-root"},
		{"no user", "USER 65532:65532", "", "no USER"},
		{"shell form", `ENTRYPOINT ["/usr/local/bin/fwd", "gateway", "--config", "/etc/fwd/gateway.yaml"]`, "ENTRYPOINT /usr/local/bin/fwd gateway --config /etc/fwd/gateway.yaml", "exec (JSON) form"},
		{"cgo", "CGO_ENABLED=0 ", "CGO_ENABLED=1 ", "CGO_ENABLED=0"},
		{"binary path", "COPY --from=build /out/fwd /usr/local/bin/fwd", "COPY --from=build /out/fwd /fwd", "entrypoint runs"},
		{"package", "./cmd/fwd", "./cmd/fwdd", "go build's package"},
		{"base", "gcr.io/distroless/static-debian12:nonroot", "debian:bookworm", "distroless static or scratch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.old, c.new, 1)
			if bad == good {
				t.Fatalf("the Dockerfile has no %q", c.old)
			}
			problems := strings.Join(dockerfileProblems(bad), "\n")
			if !strings.Contains(problems, c.want) {
				t.Errorf("problems %q, want one about %q", problems, c.want)
			}
		})
	}
}

// dockerfileProblems says what is wrong with the Dockerfile text.
func dockerfileProblems(text string) []string {
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	stages, err := parseDockerfile(text)
	if err != nil {
		return []string{err.Error()}
	}
	if len(stages) < 2 {
		return []string{fmt.Sprintf("%d stages: want a builder and a final stage", len(stages))}
	}
	final := stages[len(stages)-1]

	// The final stage: a static base, a numeric non-root user.
	if !strings.HasPrefix(final.base, "gcr.io/distroless/static") && final.base != "scratch" {
		errorf("final stage FROM %s: want distroless static or scratch (fwd is static; no shell to attack)", final.base)
	}
	if user, ok := final.last("USER"); !ok {
		errorf("final stage has no USER: it would run as root")
	} else if uid, _, _ := strings.Cut(user.args, ":"); !regexp.MustCompile(`^[0-9]+$`).MatchString(uid) || uid == "0" {
		errorf("line %d: USER %s: want a numeric non-root uid, which Kubernetes' runAsNonRoot can check", user.line, user.args)
	}

	// ENTRYPOINT in exec form: in the shell form, sh -c would be PID 1
	// (if there were a shell) and SIGTERM would never reach the gateway.
	ep, ok := final.last("ENTRYPOINT")
	if !ok {
		return append(problems, "final stage has no ENTRYPOINT")
	}
	var argv []string
	if err := json.Unmarshal([]byte(ep.args), &argv); err != nil {
		return append(problems, fmt.Sprintf("line %d: ENTRYPOINT %s is not in exec (JSON) form: %v", ep.line, ep.args, err))
	}
	want := []string{"gateway", "--config", "/etc/fwd/gateway.yaml"}
	if len(argv) != 4 || !slices.Equal(argv[1:], want) {
		return append(problems, fmt.Sprintf("ENTRYPOINT %q: want [BINARY %s]", argv, strings.Join(want, " ")))
	}
	if _, ok := final.last("CMD"); ok {
		errorf("final stage has a CMD: its arguments would follow the entrypoint's")
	}

	// The binary the entrypoint runs is the one the builder made.
	var copied bool
	for _, c := range final.all("COPY") {
		f := strings.Fields(c.args)
		if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") {
			continue
		}
		from := strings.TrimPrefix(f[0], "--from=")
		var src *stage
		for i := range stages[:len(stages)-1] {
			if stages[i].name == from {
				src = &stages[i]
			}
		}
		if src == nil {
			errorf("line %d: COPY --from=%s: no such stage", c.line, from)
			continue
		}
		b, err := findGoBuild(*src)
		if err != nil {
			errorf("%v", err)
			continue
		}
		if f[1] != b.out {
			continue
		}
		copied = true
		if f[2] != argv[0] {
			errorf("line %d: %s is copied to %s, but the entrypoint runs %s", c.line, b.out, f[2], argv[0])
		}
		problems = append(problems, goBuildProblems(b)...)
	}
	if !copied {
		errorf("no COPY --from brings the go build's output to %s", argv[0])
	}

	exposed := map[string]bool{}
	for _, e := range final.all("EXPOSE") {
		for _, p := range strings.Fields(e.args) {
			exposed[strings.TrimSuffix(p, "/tcp")] = true
		}
	}
	for _, p := range []string{"7443", "9090"} {
		if !exposed[p] {
			errorf("port %s is not EXPOSEd", p)
		}
	}
	return problems
}

// goBuildProblems: static, trimmed, and its package is fwd's main
// package, found where the build context puts it.
func goBuildProblems(b goBuild) []string {
	var problems []string
	if !regexp.MustCompile(`(^|\s)CGO_ENABLED=0\s`).MatchString(b.run.args) {
		problems = append(problems, fmt.Sprintf("line %d: go build without CGO_ENABLED=0: the final stage has no libc", b.run.line))
	}
	if !strings.Contains(b.run.args, "-trimpath") {
		problems = append(problems, fmt.Sprintf("line %d: go build without -trimpath", b.run.line))
	}
	if b.workdir != "/src" || b.pkg == "" {
		return append(problems, fmt.Sprintf("line %d: go build of %q in WORKDIR %q: want a package under /src, where COPY . . puts the context", b.run.line, b.pkg, b.workdir))
	}
	list := exec.Command("go", "list", "-f", "{{.Name}} {{.ImportPath}}", "./"+strings.TrimPrefix(b.pkg, "./"))
	list.Dir = root
	out, err := list.CombinedOutput()
	if err != nil {
		return append(problems, fmt.Sprintf("go build's package %s: %v: %s", b.pkg, err, out))
	}
	if got := strings.TrimSpace(string(out)); got != "main github.com/fwd-dev/fwd/cmd/fwd" {
		problems = append(problems, fmt.Sprintf("go build's package %s is %q, want fwd's main package", b.pkg, got))
	}
	return problems
}

// TestDockerignoreKeepsTheBuild: the files .dockerignore lets into the
// build context are enough for go build of fwd, and hold no tests, test
// data or build output. It copies them into a directory and lists fwd's
// packages there, as the builder stage would build them.
func TestDockerignoreKeepsTheBuild(t *testing.T) {
	patterns := readDockerignore(t)
	ctx := t.TempDir()
	var sent []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			if rel == ".git" {
				if ignored(patterns, rel) {
					return filepath.SkipDir
				}
				t.Error(".git is in the build context")
				return filepath.SkipDir
			}
			return nil
		}
		if ignored(patterns, rel) || !d.Type().IsRegular() {
			return nil
		}
		sent = append(sent, rel)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(ctx, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sent {
		switch {
		case strings.HasSuffix(f, "_test.go"), strings.Contains("/"+f, "/testdata/"),
			strings.HasPrefix(f, "dist/"), strings.HasPrefix(f, "test/"), f == "fwd":
			t.Errorf("%s is in the build context", f)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if eq .Module.Path \"github.com/fwd-dev/fwd\"}}{{.ImportPath}}{{end}}{{end}}", "./cmd/fwd")
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false -mod=readonly", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list ./cmd/fwd in the build context: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/fwd-dev/fwd/tunnel\n") {
		t.Errorf("fwd's packages in the build context:\n%s", out)
	}
}

// dockerignore is one .dockerignore line, as a regular expression over a
// slash-separated path relative to the context.
type dockerignore struct {
	re     *regexp.Regexp
	negate bool
}

func readDockerignore(t *testing.T) []dockerignore {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerignore
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := dockerignore{}
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, line[1:]
		}
		line = strings.Trim(filepath.ToSlash(filepath.Clean(line)), "/")
		p.re = regexp.MustCompile("^" + globRegexp(line) + "$")
		out = append(out, p)
	}
	return out
}

// globRegexp is Docker's pattern syntax (Go's filepath.Match, plus ** for
// any number of directories) as a regular expression.
func globRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// ignored applies the patterns as Docker does: the last one that matches
// the path, or a directory above it, decides.
func ignored(patterns []dockerignore, path string) bool {
	out := false
	for _, p := range patterns {
		match := p.re.MatchString(path)
		for dir := path; !match && strings.Contains(dir, "/"); {
			dir = dir[:strings.LastIndex(dir, "/")]
			match = p.re.MatchString(dir)
		}
		if match {
			out = !p.negate
		}
	}
	return out
}
