package reliability

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretName is the heuristic for identifiers that hold credentials:
// tokens, secrets, passwords, signatures, one-time codes and the stored
// hashes of those. Comparing such values with == leaks, through timing,
// how many leading bytes matched; they must go through subtle or
// hmac.Equal (httpx.Equal, tokenMatches, blob.Dir.Verify, the CSRF check).
var secretName = regexp.MustCompile(`(?i)(token|secret|passw|signature|^sig$|otp|nonce|codehash|keyhash|tokenhash|appkey|apikey|^code$|csrf)`)

// plainSecretComparisons reports every == or != in src whose operands are
// both run-time values (neither a literal, nil, true/false, an exported
// name nor a package's exported name: those are constants or sentinels)
// and one of which mentions a secret-looking identifier. It is a
// heuristic: a secret held under a bland name escapes it, and an error
// code named "code" compared with another variable would be reported.
func plainSecretComparisons(fset *token.FileSet, f *ast.File) []string {
	imported := map[string]bool{}
	for _, im := range f.Imports {
		n := strings.Trim(im.Path.Value, `"`)
		n = n[strings.LastIndex(n, "/")+1:]
		if im.Name != nil {
			n = im.Name.Name
		}
		imported[n] = true
	}
	exported := func(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }
	var constant func(e ast.Expr) bool
	constant = func(e ast.Expr) bool {
		switch x := e.(type) {
		case *ast.BasicLit:
			return true
		case *ast.Ident:
			return x.Name == "nil" || x.Name == "true" || x.Name == "false" || exported(x.Name)
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			return ok && imported[id.Name] && exported(x.Sel.Name)
		case *ast.ParenExpr:
			return constant(x.X)
		}
		return false
	}
	mentionsSecret := func(e ast.Expr) bool {
		found := false
		ast.Inspect(e, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && secretName.MatchString(id.Name) {
				found = true
			}
			return !found
		})
		return found
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		b, ok := n.(*ast.BinaryExpr)
		if !ok || (b.Op != token.EQL && b.Op != token.NEQ) || constant(b.X) || constant(b.Y) {
			return true
		}
		if mentionsSecret(b.X) || mentionsSecret(b.Y) {
			out = append(out, fset.Position(b.Pos()).String())
		}
		return true
	})
	return out
}

// TestSecretsAreComparedInConstantTime scans the module's production code
// (not tests, test helper packages or scripts) for credentials compared
// with == or !=.
func TestSecretsAreComparedInConstantTime(t *testing.T) {
	// The heuristic must catch what it is for, or an empty result proves
	// nothing.
	probe := `package p
func f(tokenHash, stored, code, want string, r struct{ CodeHash string }) bool {
	if code == "" { return false }
	return tokenHash == stored || r.CodeHash != want || code == want
}`
	fset := token.NewFileSet()
	pf, err := parser.ParseFile(fset, "probe.go", probe, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := plainSecretComparisons(fset, pf); len(got) != 3 {
		t.Fatalf("the heuristic found %d of the probe's 3 plain comparisons: %v", len(got), got)
	}

	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "tests" || name == "scripts" ||
				strings.HasSuffix(name, "test")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		files++
		for _, at := range plainSecretComparisons(fset, f) {
			t.Errorf("%s: a secret compared with ==/!=; use httpx.Equal, subtle.ConstantTimeCompare or hmac.Equal", at)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("scanned only %d files from %s: wrong root?", files, root)
	}
}
