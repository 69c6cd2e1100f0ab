package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/functions/ingest"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
)

// The records of processing are checked here, in CI, three ways: the
// committed register (docs/processing.md) is what the code declares; every
// declared activity that needs an impact assessment has an approved one
// on record, made before today; and no function touches a data category
// it does not declare, as far as a mechanical reading of the code can
// tell (see TestFunctionsDeclareWhatTheyTouch).

var updateProcessing = flag.Bool("update-processing", false, "rewrite docs/processing.md from the declarations")

const (
	registerPath    = "../../docs/processing.md"
	assessmentsPath = "../../docs/assessments"
	functionsPath   = "../../functions"
	catalogPath     = "../../events/catalog.go"
	modulePath      = "github.com/veil-privacy/veil/"
)

func TestProcessingRegisterIsCurrent(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), Env{Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }}, []string{"processing"}); code != 0 {
		t.Fatalf("veil processing exited %d: %s", code, errs.String())
	}
	if *updateProcessing {
		if err := os.WriteFile(registerPath, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(registerPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, out.Bytes()) {
		t.Fatalf("docs/processing.md is not the register the code declares; regenerate it:\n" +
			"  go run ./cmd/veil processing > docs/processing.md   (or go test ./cmd/veil -run Register -update-processing)")
	}

	out.Reset()
	if code := run(context.Background(), Env{Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }}, []string{"processing", "--json"}); code != 0 {
		t.Fatalf("veil processing --json exited %d: %s", code, errs.String())
	}
	var reg privacy.Register
	if err := json.Unmarshal(out.Bytes(), &reg); err != nil || len(reg.Entries) == 0 || len(reg.Backends) == 0 {
		t.Fatalf("--json: %v, %d activities", err, len(reg.Entries))
	}
}

func TestEveryFunctionDeclaresValidProcessing(t *testing.T) {
	reg, _, err := buildRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, e := range reg.Entries {
		declared[e.Function] = true
	}
	for _, n := range suite.Names() {
		if !declared[n] {
			t.Errorf("function %s is registered but declares no processing", n)
		}
	}
}

// assessments reads every record under docs/assessments/ (README.md is the
// index, not a record).
func assessments(t *testing.T) []privacy.Assessment {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(assessmentsPath, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []privacy.Assessment
	for _, f := range files {
		if filepath.Base(f) == "README.md" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := privacy.ParseAssessment(strings.TrimSuffix(filepath.Base(f), ".md"), data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		out = append(out, a)
	}
	return out
}

func TestDeclaredProcessingHasImpactAssessments(t *testing.T) {
	// An invalid declaration is TestEveryFunctionDeclaresValidProcessing's
	// to report; the valid ones are checked here all the same.
	reg, fns, _ := buildRegister(context.Background())
	if fns == nil {
		t.Fatal("the suite did not build")
	}
	records := assessments(t)
	for _, err := range reg.CheckAssessments(records, time.Now()) {
		t.Error(err)
	}
	// The policy (§5(2)) promises an assessment for each of these kinds
	// of processing; each has at least one record, whether or not some
	// function does it today.
	covered := map[privacy.AssessmentKind]bool{}
	for _, a := range records {
		for _, k := range a.Kinds {
			covered[k] = covered[k] || a.Outcome != privacy.OutcomeRejected
		}
	}
	for _, k := range privacy.AssessmentKinds() {
		if !covered[k] {
			t.Errorf("no approved assessment covers %s processing", k)
		}
	}
	index, err := os.ReadFile(filepath.Join(assessmentsPath, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range records {
		if !strings.Contains(string(index), "("+a.ID+".md)") {
			t.Errorf("docs/assessments/README.md does not list %s", a.ID)
		}
	}
}

// What the heuristic knows about the data in each place.
//
// Events: the categories of the values their payload carries. Subject
// keys (keyed hashes) are in nearly every event as references; they are
// not counted as a category here, or every function would declare every
// identifier category.
var eventCategories = map[string][]privacy.Category{
	events.AdRequestReceived:     {privacy.CatApp, privacy.CatOS, privacy.CatLocale},
	events.ConsentChanged:        {privacy.CatConsent},
	events.RequestReceived:       {privacy.CatRequests},
	events.RequestVerified:       {privacy.CatRequests},
	events.RequestChanged:        {privacy.CatRequests},
	events.RequestDueSoon:        {privacy.CatRequests},
	events.RequestOverdue:        {privacy.CatRequests},
	events.ErasureRequested:      {privacy.CatDeviceID}, // the recipient's pseudonym
	events.ErasureAcknowledged:   {privacy.CatDeviceID},
	events.RetentionExpired:      nil, // record ids only
	events.ScheduleTicked:        nil,
	events.NotificationRequested: {privacy.CatNotices, privacy.CatAccount}, // "to" is an address
	events.NotificationDelivered: {privacy.CatNotices},
	events.IncidentDeclared:      nil,
	events.PolicyPublished:       nil,
	events.OperationsCeased:      nil,
	events.ResidencyViolated:     nil,
	events.EventDeadLettered:     nil,
	events.FanoutContinued:       nil,
	events.HoldPlaced:            nil, // a case reference, never personal data
	events.HoldLifted:            nil,
}

// recordPlain are the categories readable in a stored ad record without
// the subject's key: plain fields, the coarse position, the id hashes.
// sealed are those only Keys.Open (or Keys.Seal on the way in) reaches.
func recordCategories() (plain, sealed []privacy.Category) {
	plain = []privacy.Category{privacy.CatDeviceID, privacy.CatLocation} // id hashes; coarse geo
	for _, f := range privacy.Fields() {
		switch f.Treatment {
		case privacy.Pseudonymize, privacy.Encrypt:
			sealed = appendNew(sealed, f.Category)
		default:
			plain = appendNew(plain, f.Category)
		}
	}
	return plain, sealed
}

// sharedRepos are store.DB's repositories and what their documents hold.
func sharedRepos() map[string][]privacy.Category {
	plain, _ := recordCategories()
	return map[string][]privacy.Category{
		"Records":     plain,
		"Consents":    {privacy.CatConsent},
		"Devices":     {privacy.CatDeviceID},
		"Apps":        {privacy.CatAccount}, // developer addresses
		"Requests":    {privacy.CatRequests, privacy.CatAccount},
		"Disclosures": {privacy.CatDeviceID}, // pseudonyms
	}
}

// collectionCategories classifies every collection a function owns. A
// new collection fails the test until it is classified here — that is the
// moment to decide what it holds.
var collectionCategories = map[string][]privacy.Category{
	// partners
	"partners":              nil,                   // companies, not people
	"partner_erasures":      {privacy.CatDeviceID}, // the partner's pseudonym
	"partner_stats":         nil,                   // de-identified counts
	"partner_stats_counted": nil,                   // record ids
	// notify and the fan-out engine incidents and policies run
	"notify_deliveries": {privacy.CatNotices},
	"notify_letters":    {privacy.CatNotices, privacy.CatAccount}, // postal addresses
	"fanout_jobs":       {privacy.CatNotices},
	"fanout_targets":    {privacy.CatNotices}, // subject keys, hints, channels
	"fanout_counters":   nil,
	"fanout_seeds":      {privacy.CatNotices},
	// incidents and policies
	"incidents":     nil, // the incident, not the people (only how many)
	"announcements": nil, // public text, no personal data
	"policies":      nil,
	"policy_acks":   {privacy.CatConsent}, // who acknowledged or consented to a version
	// requests: keyed hashes only (sender counters, Message-IDs)
	"request_limits":  nil,
	"request_inbound": nil,
	// retention
	"retention_state": nil,
	"retention_holds": nil, // a subject key and a case reference
	"retention_stats": nil, // de-identified counts
	// audit: hashed subjects and payload digests of every state change
	"audit_entries": {privacy.CatConsent, privacy.CatRequests, privacy.CatNotices},
	"audit_state":   nil,
	// export and erasure (fulfilment)
	"fulfilments":    {privacy.CatRequests},
	"export_bundles": {privacy.CatRequests},
	"profiles":       {privacy.CatAccount},
	"accounts":       {privacy.CatAccount},
	"erasure_ledger": {privacy.CatRequests}, // one-way hashes of erased subjects
}

func TestFunctionsDeclareWhatTheyTouch(t *testing.T) {
	_, fns, _ := buildRegister(context.Background())
	if fns == nil {
		t.Fatal("the suite did not build")
	}
	consts := eventConstants(t)
	registered := map[string]bool{}
	for _, n := range suite.Names() {
		registered[n] = true
	}
	_, sealed := recordCategories()
	for _, f := range fns {
		touched := map[privacy.Category][]string{}
		touch := func(why string, cs ...privacy.Category) {
			for _, c := range cs {
				touched[c] = appendNew(touched[c], why)
			}
		}
		if f.Name == ingest.Name {
			// Ingest stores whatever the field table lets the SDK send.
			for _, fd := range privacy.Fields() {
				touch("field "+fd.Path, fd.Category)
			}
		}
		for typ := range f.Events {
			cs, ok := eventCategories[typ]
			if !ok {
				t.Errorf("event %s (consumed by %s) is not classified in eventCategories", typ, f.Name)
			}
			touch("consumes "+typ, cs...)
		}
		for _, c := range f.Collections {
			cs, ok := collectionCategories[c.Name]
			if !ok {
				t.Errorf("collection %s (of %s) is not classified in collectionCategories", c.Name, f.Name)
			}
			touch("collection "+c.Name, cs...)
		}
		uses := scanFunction(t, f.Name, registered, consts)
		for _, repo := range uses.repos {
			touch("store.DB."+repo, sharedRepos()[repo]...)
		}
		if uses.opensRecords {
			touch("Keys.Open of ad records", sealed...)
		}
		for _, typ := range uses.publishes {
			cs, ok := eventCategories[typ]
			if !ok {
				t.Errorf("event %s (published by %s) is not classified in eventCategories", typ, f.Name)
			}
			touch("publishes "+typ, cs...)
		}
		declared := map[privacy.Category]bool{}
		for _, a := range f.Processing {
			for _, c := range a.Categories {
				declared[c] = true
			}
		}
		for _, c := range privacy.Categories() {
			if len(touched[c]) > 0 && !declared[c] {
				t.Errorf("%s touches %s (%s) but declares no activity with it", f.Name, c, strings.Join(touched[c], "; "))
			}
		}
	}
}

// uses is what a mechanical reading of a function's code finds.
type uses struct {
	repos []string // store.DB repositories named (d.DB.Records, db.Records)
	// opensRecords: a package that reads ad records also calls Keys.Open,
	// so it decrypts their sealed fields. Keys.Open elsewhere opens
	// values sealed for other reasons (notify's addresses); Keys.Seal on
	// the way in is ingest's, which the field table covers.
	opensRecords bool
	publishes    []string // event types built with events.Must/New
}

// scanFunction reads the function's package (functions/<name>) and the
// helper packages under functions/ it calls into that are not functions
// themselves (notify/fanout, erasure/fulfil); a helper whose constants
// alone are used does no processing for it. Test files are skipped.
func scanFunction(t *testing.T, name string, registered map[string]bool, consts map[string]string) uses {
	t.Helper()
	var u uses
	seen := map[string]bool{}
	var scan func(dir string)
	scan = func(dir string) {
		if seen[dir] {
			return
		}
		seen[dir] = true
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		helpers := map[string]string{} // local name → directory
		called := map[string]bool{}
		opens, records := false, false
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				rest, ok := strings.CutPrefix(p, modulePath+"functions/")
				if !ok || registered[rest] {
					continue
				}
				local := path.Base(rest)
				if imp.Name != nil {
					local = imp.Name.Name
				}
				helpers[local] = filepath.Join(functionsPath, filepath.FromSlash(rest))
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.SelectorExpr:
					if _, ok := sharedRepos()[x.Sel.Name]; ok && isDB(x.X) {
						u.repos = appendNew(u.repos, x.Sel.Name)
						records = records || x.Sel.Name == "Records"
					}
					if inner, ok := x.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "Keys" && x.Sel.Name == "Open" {
						opens = true
					}
				case *ast.CallExpr:
					fn, ok := x.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					if id, ok := fn.X.(*ast.Ident); ok {
						called[id.Name] = true
					}
					if len(x.Args) == 0 || !isIdent(fn.X, "events") || (fn.Sel.Name != "Must" && fn.Sel.Name != "New") {
						return true
					}
					if arg, ok := x.Args[0].(*ast.SelectorExpr); ok && isIdent(arg.X, "events") {
						if typ, ok := consts[arg.Sel.Name]; ok {
							u.publishes = appendNew(u.publishes, typ)
						}
					}
				}
				return true
			})
		}
		u.opensRecords = u.opensRecords || (opens && records)
		for local, dir := range helpers {
			if called[local] {
				scan(dir)
			}
		}
	}
	scan(filepath.Join(functionsPath, name))
	return u
}

// isDB reports whether e is a store.DB by its usual names: x.DB, db.
func isDB(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		return x.Sel.Name == "DB"
	case *ast.Ident:
		return x.Name == "db"
	}
	return false
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// eventConstants maps the catalog's constant names to event types.
func eventConstants(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), catalogPath, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						out[n.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
	}
	if len(out) != len(events.Types()) {
		t.Fatalf("read %d event constants from %s, the catalog has %d types", len(out), catalogPath, len(events.Types()))
	}
	return out
}

func appendNew[T comparable](xs []T, x T) []T {
	if slices.Contains(xs, x) {
		return xs
	}
	return append(xs, x)
}
