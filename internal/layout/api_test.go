package layout

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// publicPackages are the module's exported API: what a program outside the
// module imports.
var publicPackages = []string{"forward", "tunnel", "tunnel/catalog", "tunnel/config", "hosts"}

// TestExportedAPINamesNoInternalType walks every exported declaration of
// the public packages (functions, methods of exported types, exported
// types' fields and methods, variables and constants) and fails for any
// type it names from internal/, or any unexported type of its own
// package, which no other module could name either.
func TestExportedAPINamesNoInternalType(t *testing.T) {
	dirs := map[string]string{}
	for _, p := range listPackages(t) {
		dirs[rel(p.ImportPath)] = p.Dir
	}
	for _, pkg := range publicPackages {
		dir, ok := dirs[pkg]
		if !ok {
			t.Fatalf("public package %s not found", pkg)
		}
		for _, problem := range apiProblems(t, dir) {
			t.Errorf("%s: %s", pkg, problem)
		}
	}
}

func apiProblems(t *testing.T, dir string) []string {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, p := range pkgs {
		for name, f := range p.Files {
			c := &apiChecker{fset: fset, file: filepath.Base(name), imports: importsOf(f)}
			c.file_(f)
			problems = append(problems, c.problems...)
		}
	}
	return problems
}

func importsOf(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		m[name] = path
	}
	return m
}

type apiChecker struct {
	fset     *token.FileSet
	file     string
	imports  map[string]string
	problems []string
}

func (c *apiChecker) file_(f *ast.File) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) {
				c.expr(d.Name.Name, d.Type)
			}
		case *ast.GenDecl:
			c.genDecl(d)
		}
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	e := fl.List[0].Type
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if ix, ok := e.(*ast.IndexExpr); ok {
		e = ix.X
	}
	id, ok := e.(*ast.Ident)
	return ok && id.IsExported()
}

func (c *apiChecker) genDecl(d *ast.GenDecl) {
	for _, s := range d.Specs {
		switch s := s.(type) {
		case *ast.TypeSpec:
			if s.Name.IsExported() {
				c.expr(s.Name.Name, s.Type)
			}
		case *ast.ValueSpec:
			for _, n := range s.Names {
				if n.IsExported() && s.Type != nil {
					c.expr(n.Name, s.Type)
				}
			}
		}
	}
}

// expr reports what e names that an outside module could not.
func (c *apiChecker) expr(decl string, e ast.Node) {
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Field:
			// Unexported fields and methods are not API; embedded ones are.
			if len(n.Names) > 0 && !anyExported(n.Names) {
				return false
			}
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok {
				if path := c.imports[x.Name]; strings.Contains(path, "/internal/") {
					c.report(n, decl, "names %s.%s from %s", x.Name, n.Sel.Name, path)
				}
			}
			return false
		case *ast.Ident:
			if !n.IsExported() && !builtin[n.Name] && n.Obj != nil && n.Obj.Kind == ast.Typ {
				c.report(n, decl, "names the unexported type %s", n.Name)
			}
		}
		return true
	})
}

func anyExported(names []*ast.Ident) bool {
	for _, n := range names {
		if n.IsExported() {
			return true
		}
	}
	return false
}

func (c *apiChecker) report(n ast.Node, decl, format string, args ...any) {
	pos := c.fset.Position(n.Pos())
	c.problems = append(c.problems, c.file+":"+strconv.Itoa(pos.Line)+": "+decl+" "+fmt.Sprintf(format, args...))
}

var builtin = map[string]bool{"bool": true, "byte": true, "rune": true, "string": true, "error": true, "any": true,
	"int": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true, "uintptr": true,
	"float32": true, "float64": true, "complex64": true, "complex128": true}
