// Command grpcserveronly removes from a protoc-gen-go-grpc file what a
// server that implements every method itself does not use: the
// Unimplemented<Service>Server stub type and its methods, the Unsafe
// opt-out interface, and Register's check that the stub was embedded by
// value. `make proto` runs it after protoc, so the committed code holds no
// method that answers "unimplemented". It fails when it finds none of
// them, so a plugin that changes its output is noticed.
//
// Usage: go run ./scripts/grpcserveronly FILE
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: grpcserveronly FILE")
		os.Exit(2)
	}
	if err := strip(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "grpcserveronly:", err)
		os.Exit(1)
	}
}

// span is a byte range of the source to cut.
type span struct{ from, to int }

func strip(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		return err
	}
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	var cut []span
	whole := func(doc *ast.CommentGroup, n ast.Node) {
		from := n.Pos()
		if doc != nil {
			from = doc.Pos()
		}
		cut = append(cut, span{off(from), off(n.End())})
	}
	stub := func(name string) bool {
		return strings.HasPrefix(name, "Unimplemented") || strings.HasPrefix(name, "Unsafe")
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			if ts, ok := d.Specs[0].(*ast.TypeSpec); ok && d.Tok == token.TYPE && len(d.Specs) == 1 && stub(ts.Name.Name) {
				whole(d.Doc, d)
			}
		case *ast.FuncDecl:
			if d.Recv != nil {
				if id, ok := d.Recv.List[0].Type.(*ast.Ident); ok && stub(id.Name) {
					whole(d.Doc, d)
				}
				continue
			}
			if strings.HasPrefix(d.Name.Name, "Register") {
				cut = append(cut, embedCheck(f, d, off)...)
			}
		}
	}
	// The server interface's doc asks implementations to embed the stub.
	for _, cg := range f.Comments {
		for i, c := range cg.List {
			if strings.Contains(c.Text, "should embed Unimplemented") {
				end := c.End()
				if i+1 < len(cg.List) && strings.Contains(cg.List[i+1].Text, "forward compatibility") {
					end = cg.List[i+1].End()
				}
				cut = append(cut, span{off(c.Pos()), off(end) + 1}) // with its newline: the doc stays one comment
			}
		}
	}
	if len(cut) < 4 {
		return fmt.Errorf("%s: found %d of the stub's parts, expected the type, its methods, the Unsafe interface and Register's check", path, len(cut))
	}
	slices.SortFunc(cut, func(a, b span) int { return a.from - b.from })
	var out bytes.Buffer
	at := 0
	for _, c := range cut {
		if c.from < at {
			continue // inside a span already cut
		}
		out.Write(src[at:c.from])
		at = c.to
	}
	out.Write(src[at:])
	trimmed, err := dropUnusedImports(out.Bytes())
	if err != nil {
		return fmt.Errorf("%s after cutting: %w", path, err)
	}
	formatted, err := format.Source(trimmed)
	if err != nil {
		return fmt.Errorf("%s after cutting: %w", path, err)
	}
	return os.WriteFile(path, formatted, 0o644)
}

// embedCheck is Register's test that the stub was embedded by value, with
// the comment above it.
func embedCheck(f *ast.File, fn *ast.FuncDecl, off func(token.Pos) int) []span {
	var cut []span
	for _, st := range fn.Body.List {
		ifs, ok := st.(*ast.IfStmt)
		if !ok || !mentions(ifs, "testEmbeddedByValue") {
			continue
		}
		from := ifs.Pos()
		for _, cg := range f.Comments {
			if cg.End() < ifs.Pos() && cg.Pos() > fn.Body.Lbrace {
				from = min(from, cg.Pos())
			}
		}
		cut = append(cut, span{off(from), off(ifs.End()) + 1}) // and its newline
	}
	return cut
}

func mentions(n ast.Node, name string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == name {
			found = true
		}
		return !found
	})
	return found
}

// dropUnusedImports removes the imports only the cut code used (codes and
// status, for the stub's answers).
func dropUnusedImports(src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	var cut []span
	for _, imp := range f.Imports {
		name := strings.Trim(imp.Path.Value, `"`)
		name = name[strings.LastIndex(name, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		if name != "_" && !used[name] {
			cut = append(cut, span{fset.Position(imp.Pos()).Offset, fset.Position(imp.End()).Offset})
		}
	}
	var out bytes.Buffer
	at := 0
	for _, c := range cut {
		out.Write(src[at:c.from])
		at = c.to
	}
	out.Write(src[at:])
	return out.Bytes(), nil
}
