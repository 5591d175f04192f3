package layout

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/fwd-dev/fwd"

type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
	Deps       []string
	GoFiles    []string
}

// listPackages runs go list over the module (not its tests).
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

// forbidden maps a package prefix to the module packages it may not
// depend on, directly or not: the import arrows of docs/ARCHITECTURE.md.
var forbidden = map[string][]string{
	"tunnel":       {"forward", "cmd/", "hosts", "test/"},
	"hosts":        {"forward", "cmd/", "tunnel", "test/"},
	"forward":      {"cmd/", "test/"},
	"internal":     {"tunnel", "forward", "cmd/", "test/"},
	"cmd/fwd":      {"test/"},
	"test/fwdtest": {"cmd/"},
}

// TestImportArrowsPointDown checks docs/ARCHITECTURE.md's import arrows on
// every dependency, direct or not.
func TestImportArrowsPointDown(t *testing.T) {
	for _, p := range listPackages(t) {
		me := rel(p.ImportPath)
		if me == "internal/layout" {
			continue
		}
		for prefix, bad := range forbidden {
			if me != prefix && !strings.HasPrefix(me, prefix+"/") {
				continue
			}
			for _, dep := range p.Deps {
				if !strings.HasPrefix(dep, module+"/") {
					continue
				}
				if d := rel(dep); matchesAny(d, bad) {
					t.Errorf("%s depends on %s: arrows must point down (docs/ARCHITECTURE.md)", me, d)
				}
			}
		}
	}
}

// matchesAny reports whether package path d is one of prefixes or below
// one ("cmd/" matches everything under cmd).
func matchesAny(d string, prefixes []string) bool {
	for _, b := range prefixes {
		b = strings.TrimSuffix(b, "/")
		if d == b || strings.HasPrefix(d, b+"/") {
			return true
		}
	}
	return false
}

// TestArchitectureIsTrue keeps docs/ARCHITECTURE.md's package table true:
// every package of the module has a row, and imports (directly, outside
// tests) only module packages its "may import" column names.
func TestArchitectureIsTrue(t *testing.T) {
	allowed := architectureTable(t)
	for _, p := range listPackages(t) {
		me := rel(p.ImportPath)
		may, ok := allowed[me]
		if !ok {
			t.Errorf("docs/ARCHITECTURE.md has no row for package %s: add one to its table", me)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if d := rel(imp); !may(d) {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md does not allow it: change one of them", me, d)
			}
		}
	}
}

// architectureTable reads the package table: a row is
// | `pkg` | what it is | may import |, the last cell either "nothing",
// "anything but X" or a list of packages, where a name allows the packages
// below it too ("internal" allows internal/mux).
func architectureTable(t *testing.T) map[string]func(string) bool {
	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]func(string) bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) < 3 || !strings.HasPrefix(cells[0], "`") {
			continue
		}
		pkg := strings.Trim(cells[0], "`")
		rows[pkg] = allowRule(cells[len(cells)-1])
	}
	if len(rows) < 10 {
		t.Fatalf("docs/ARCHITECTURE.md's package table has %d rows: is it still a table of | `package` | ... | may import |?", len(rows))
	}
	return rows
}

func allowRule(cell string) func(string) bool {
	cell = strings.TrimSpace(cell)
	if cell == "nothing" {
		return func(string) bool { return false }
	}
	if but, ok := strings.CutPrefix(cell, "anything but "); ok {
		bad := strings.Split(but, ", ")
		return func(d string) bool { return !matchesAny(d, bad) }
	}
	names := strings.Split(cell, ", ")
	return func(d string) bool { return matchesAny(d, names) }
}

func TestLipglossOnlyInUI(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/charmbracelet/lipgloss") && rel(p.ImportPath) != "internal/ui" {
				t.Errorf("%s imports %s: only internal/ui may", rel(p.ImportPath), imp)
			}
		}
	}
}

// TestNoExitOutsideCommands: library code returns errors; only a command's
// main decides to end the process.
func TestNoExitOutsideCommands(t *testing.T) {
	banned := map[string]bool{"os.Exit": true, "log.Fatal": true, "log.Fatalf": true, "log.Fatalln": true, "log.Panic": true, "log.Panicf": true}
	for _, p := range listPackages(t) {
		if strings.HasPrefix(rel(p.ImportPath), "cmd/") {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fn := call.Fun.(type) {
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok && banned[x.Name+"."+fn.Sel.Name] {
						t.Errorf("%s calls %s.%s outside cmd/", path, x.Name, fn.Sel.Name)
					}
				case *ast.Ident:
					if fn.Name == "panic" {
						t.Errorf("%s calls panic outside cmd/", path)
					}
				}
				return true
			})
		}
	}
}
