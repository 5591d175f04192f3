package layout

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
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

// TestImportArrowsPointDown checks DESIGN.md's rules on every dependency,
// direct or not.
func TestImportArrowsPointDown(t *testing.T) {
	forbidden := map[string][]string{
		"tunnel":  {"forward", "cmd/", "hosts"},
		"hosts":   {"forward", "cmd/", "tunnel"},
		"forward": {"cmd/"},
	}
	for _, p := range listPackages(t) {
		me := rel(p.ImportPath)
		for prefix, bad := range forbidden {
			if me != prefix && !strings.HasPrefix(me, prefix+"/") {
				continue
			}
			for _, dep := range p.Deps {
				d := rel(dep)
				if !strings.HasPrefix(dep, module) {
					continue
				}
				for _, b := range bad {
					if d == strings.TrimSuffix(b, "/") || strings.HasPrefix(d, b) || strings.HasPrefix(d, b+"/") {
						t.Errorf("%s depends on %s: arrows must point down (DESIGN.md)", me, d)
					}
				}
			}
		}
		if strings.HasPrefix(me, "internal/") && !strings.HasPrefix(me, "internal/layout") {
			for _, dep := range p.Deps {
				if d := rel(dep); d == "forward" || strings.HasPrefix(d, "cmd/") {
					t.Errorf("%s depends on %s: internal packages sit below forward and cmd", me, d)
				}
			}
		}
	}
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
