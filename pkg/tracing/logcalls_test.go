package tracing_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The handlers' code (the app, ports and adapters of every service, and the
// libraries they call while handling: the bus, the Bitmovin client) logs
// inside a request or an event through a field or a logger that carries its
// trace: every zap call in a function that has a context.Context or an
// *http.Request passes tracing.IDs(...), or logs through a logger made from
// tracing.Logger(...) (or With on one), or through a *zap.Logger handed over
// together with the context (whose maker this test checks in turn).
// TestOneUploadIsOneTrace checks the lines an upload really writes; this
// checks the lines it could write. It reads the code without types: a logger
// handed to a helper without a context (fail(w, log, err)) is the caller's to
// derive, which it does not see.
func TestLogCallsInsideRequestsCarryTheTrace(t *testing.T) {
	var files []string
	dirs, err := filepath.Glob("../../services/*/internal/*")
	require.NoError(t, err)
	dirs = append(dirs, "../bus", "../bitmovin")
	for _, dir := range dirs {
		switch filepath.Base(dir) {
		case "service", "webapp": // wiring and start-up: no request in hand
			continue
		}
		require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
			return err
		}))
	}
	require.Greater(t, len(files), 30)
	var bad []string
	fset := token.NewFileSet()
	for _, p := range files {
		f, err := parser.ParseFile(fset, p, nil, 0)
		require.NoError(t, err)
		c := &logChecker{fset: fset}
		where := filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p)
		if _, skip := untracedCode[where]; skip {
			continue
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Body != nil {
				if _, skip := untracedCode[where+":"+fn.Name.Name]; !skip {
					c.fn(fn.Type, fn.Body, scope{})
				}
			}
		}
		bad = append(bad, c.bad...)
	}
	assert.Empty(t, bad, "log calls inside a request or an event without its trace ids")
}

// untracedCode is code that runs with a context but never inside a request or
// an event (directory/file, or directory/file:function), and why.
var untracedCode = map[string]string{
	"bus/provision.go":                   "the operator's provision command",
	"bus/queuemetrics.go":                "the queue depth poller",
	"bus/bus.go:Run":                     "the consumer's start and stop",
	"bus/consume.go:handBackWhenStopped": "a message handed back at shutdown, before its delivery span",
	"bus/deadletters.go:sweepQueue":      "the dead-letter queue's read; each dead letter is traced in sweepOne",
	"bitmovin/reconcile.go:Run":          "the reconciler's ticks",
	"bitmovin/reconcile.go:Tick":         "the reconciler's ticks",
}

var logMethods = map[string]bool{"Debug": true, "Info": true, "Warn": true, "Error": true, "Check": true}

// loggerExpr: log, logger, x.log, x.Log, x.log(), x.cfg.Log.
var loggerName = regexp.MustCompile(`^(log|logger|Log|Logger)$`)

type scope struct {
	hasCtx  bool
	traced  map[string]bool // identifiers holding a logger that carries the trace
	entries map[string]bool // identifiers holding a checked entry (log.Check) of a logger without it
}

type logChecker struct {
	fset *token.FileSet
	bad  []string
}

func (c *logChecker) fn(typ *ast.FuncType, body *ast.BlockStmt, outer scope) {
	s := scope{hasCtx: outer.hasCtx, traced: map[string]bool{}, entries: map[string]bool{}}
	for k, v := range outer.traced {
		s.traced[k] = v
	}
	for k, v := range outer.entries {
		s.entries[k] = v
	}
	for _, f := range typ.Params.List {
		if t := typeText(f.Type); t == "context.Context" || t == "*http.Request" {
			s.hasCtx = true
		}
	}
	for _, f := range typ.Params.List {
		if typeText(f.Type) == "*zap.Logger" {
			for _, n := range f.Names {
				// Handed over with the request or event (encode(ctx, ..., log)):
				// its maker, who had the context, is checked where it made it.
				// Handed to a constructor (Webhook(..., log)), it is the
				// service's own, and its closures must derive a traced one.
				s.traced[n.Name] = s.hasCtx
			}
		}
	}
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			c.fn(n.Type, n.Body, s)
			return false
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				id, ok := lhs.(*ast.Ident)
				if !ok || i >= len(n.Rhs) {
					continue
				}
				if call, ok := n.Rhs[i].(*ast.CallExpr); ok {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Check" && isLogger(sel.X) {
						s.entries[id.Name] = !s.traced[exprName(sel.X)] && !isTracingCall(sel.X, "Logger")
					}
				}
				if loggerName.MatchString(id.Name) {
					s.traced[id.Name] = carriesTrace(n.Rhs[i], s.traced)
				}
			}
		case *ast.CallExpr:
			c.call(n, s)
		}
		return true
	})
}

func (c *logChecker) call(call *ast.CallExpr, s scope) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !s.hasCtx {
		return
	}
	entry := sel.Sel.Name == "Write" && s.entries[exprName(sel.X)]
	if !entry && (!logMethods[sel.Sel.Name] || !isLogger(sel.X) || sel.Sel.Name == "Check") {
		return // a Check is looked at where its entry is written
	}
	if !entry && (s.traced[exprName(sel.X)] || isTracingCall(sel.X, "Logger")) {
		return
	}
	for _, a := range call.Args {
		if isTracingCall(a, "IDs") {
			return
		}
	}
	c.bad = append(c.bad, c.fset.Position(call.Pos()).String())
}

func isLogger(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Ident:
		return loggerName.MatchString(x.Name)
	case *ast.SelectorExpr:
		return loggerName.MatchString(x.Sel.Name)
	case *ast.CallExpr: // h.log()
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
			return loggerName.MatchString(sel.Sel.Name)
		}
	}
	return false
}

// carriesTrace: tracing.Logger(...), or With(...) on a logger that carries
// the trace or with tracing.IDs among its fields.
func carriesTrace(e ast.Expr, traced map[string]bool) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		if id, ok := e.(*ast.Ident); ok {
			return traced[id.Name]
		}
		return false
	}
	if isTracingCall(call, "Logger") {
		return true
	}
	if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "With" {
		for _, a := range call.Args {
			if isTracingCall(a, "IDs") {
				return true
			}
		}
		return carriesTrace(sel.X, traced)
	}
	return false
}

func isTracingCall(e ast.Expr, name string) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "tracing" && sel.Sel.Name == name
}

func exprName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func typeText(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return "*" + typeText(e.X)
	case *ast.SelectorExpr:
		return typeText(e.X) + "." + e.Sel.Name
	case *ast.Ident:
		return e.Name
	}
	return ""
}
