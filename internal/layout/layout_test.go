package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// root is the repository, two levels up from this package.
const root = "../.."

// shape is what every service's internal/ holds (README "Layout").
var shape = []string{"adapters", "app", "ports", "service"}

// besides are the other packages a service's internal/ may hold, each with
// the reason it is not in the shape.
var besides = map[string]string{
	"catalog/domain":    "the asset and the rules that change it, with no I/O (README: the catalog also has internal/domain)",
	"catalog/analytics": "player analytics: its own small bounded context (beacons in, reports out) with its Store contract",
	"catalog/webapp":    "the web app's embedded build and the handler that serves it",
}

func TestEveryServiceHasTheShape(t *testing.T) {
	t.Parallel()
	services, err := os.ReadDir(filepath.Join(root, "services"))
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range services {
		if !svc.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "services", svc.Name(), "main.go")); err != nil {
			t.Errorf("services/%s has no main.go", svc.Name())
		}
		entries, err := os.ReadDir(filepath.Join(root, "services", svc.Name(), "internal"))
		if err != nil {
			t.Errorf("services/%s: %v", svc.Name(), err)
			continue
		}
		var have []string
		for _, e := range entries {
			if e.IsDir() {
				have = append(have, e.Name())
			}
		}
		for _, dir := range have {
			if _, ok := besides[svc.Name()+"/"+dir]; !ok && !slices.Contains(shape, dir) {
				t.Errorf("services/%s/internal/%s is outside the shape %v: move it, or say in besides why it stays", svc.Name(), dir, shape)
			}
		}
		for _, want := range shape {
			if !slices.Contains(have, want) {
				t.Errorf("services/%s/internal has no %s/", svc.Name(), want)
			}
		}
	}
}

// maxLines is the longest a production function may be, signature to brace.
const maxLines = 80

func TestNoProductionFunctionIsLong(t *testing.T) {
	t.Parallel()
	for _, f := range parseAll(t) {
		if !f.production {
			continue
		}
		for _, d := range f.file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			from, to := f.fset.Position(fd.Pos()), f.fset.Position(fd.End())
			if n := to.Line - from.Line + 1; n > maxLines {
				t.Errorf("%s:%d: %s is %d lines (at most %d): give each stage a function of its own", f.path, from.Line, fd.Name.Name, n, maxLines)
			}
		}
	}
}

func TestEveryPackageSaysWhatItIsFor(t *testing.T) {
	t.Parallel()
	documented := map[string]bool{} // by directory and package name
	for _, f := range parseAll(t) {
		if f.test {
			continue
		}
		key := filepath.Dir(f.path) + " " + f.file.Name.Name
		documented[key] = documented[key] || f.file.Doc != nil
	}
	for key, ok := range documented {
		if !ok {
			t.Errorf("package %s has no doc comment", key)
		}
	}
}

type goFile struct {
	path       string // from the repository's root
	fset       *token.FileSet
	file       *ast.File
	test       bool // a _test.go file
	production bool // shipped code: not a test, not generated, not test support
}

var (
	parseOnce sync.Once
	parsed    []goFile
	parseErr  error
)

// parseAll parses, once for all the tests, every Go file of the repository
// but vendored, built web and testdata trees.
func parseAll(t *testing.T) []goFile {
	t.Helper()
	parseOnce.Do(func() { parsed, parseErr = parseTree() })
	if parseErr != nil {
		t.Fatal(parseErr)
	}
	return parsed
}

func parseTree() ([]goFile, error) {
	var out []goFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "vendor", "dist":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		test := strings.HasSuffix(p, "_test.go")
		out = append(out, goFile{path: rel, fset: fset, file: f, test: test,
			production: !test && !ast.IsGenerated(f) && !testSupport(rel)})
		return nil
	})
	return out, err
}

// testSupport reports whether path is code only tests run: the suites under
// tests/ and the helper packages named for tests (apptest, testenv, …).
func testSupport(path string) bool {
	parts := strings.Split(filepath.ToSlash(filepath.Dir(path)), "/")
	if parts[0] == "tests" {
		return true
	}
	for _, p := range parts {
		if strings.HasSuffix(p, "test") || strings.HasPrefix(p, "test") {
			return true
		}
	}
	return false
}
