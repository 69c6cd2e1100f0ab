package function

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The func CLI's Go "static" HTTP scaffold compiles the root package and
// calls its package-level Handle(http.ResponseWriter, *http.Request). It
// switches to the "instanced" scaffold if a New constructor exists, which
// this layout does not use. This test pins both facts.
func TestRootPackageMatchesFuncStaticScaffold(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	var handles, news int
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if file.Name.Name != "function" {
			t.Fatalf("%s: package %s, the func CLI expects package function", f, file.Name.Name)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil {
				continue
			}
			switch fn.Name.Name {
			case "New":
				news++
			case "Handle":
				handles++
				params := fn.Type.Params.List
				if len(params) != 2 || types(params[0].Type) != "http.ResponseWriter" || types(params[1].Type) != "*http.Request" || fn.Type.Results != nil {
					t.Fatalf("Handle has the wrong signature")
				}
			}
		}
	}
	if handles != 1 || news != 0 {
		t.Fatalf("found %d Handle and %d New; want exactly one Handle and no New", handles, news)
	}
	if _, err := os.Stat("func.yaml"); err != nil {
		t.Fatal("func.yaml must sit beside handle.go at the module root")
	}
}

func types(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return "*" + types(x.X)
	case *ast.SelectorExpr:
		return types(x.X) + "." + x.Sel.Name
	case *ast.Ident:
		return x.Name
	}
	return "?"
}
