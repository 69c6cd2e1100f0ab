package privacy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Records of processing (R25, PIPL art. 55-56). Every function declares,
// next to its code, the processing activities it performs; the register is
// generated from those declarations (`veil processing`), and the kinds of
// processing the policy's §5(2) lists need a data impact assessment on
// record before they run. This file is the vocabulary and the rules; the
// assessment records are Markdown files under docs/assessments/.

// Purposes beyond the field table's: what the rest of Veil processes data
// for. They share the Purpose type so an activity names all its purposes in
// one list.
const (
	PurposeConsentRecords Purpose = "consent_management" // proving and enforcing consent (PIPL art. 14-16)
	PurposeRights         Purpose = "rights_handling"    // answering rights requests (PIPL art. 44-50)
	PurposeNotices        Purpose = "notices"            // incident, policy and request notices (R21, R22)
	PurposeCompliance     Purpose = "legal_compliance"   // audit evidence, retention, residency (R20, R24)
	PurposeSecurity       Purpose = "security"           // incident response (R21)
	PurposeStatistics     Purpose = "statistics"         // de-identified aggregate counts (R8)
	PurposeAccounts       Purpose = "account_management" // app and partner registries
)

// Purposes lists every purpose an activity may name: the field table's,
// then the rest, in a stable order.
func Purposes() []Purpose {
	return []Purpose{PurposeFraud, PurposeAttribution, PurposeCreative, PurposeLocale, PurposeOS, PurposePersonalization,
		PurposeConsentRecords, PurposeRights, PurposeNotices, PurposeCompliance, PurposeSecurity, PurposeStatistics, PurposeAccounts}
}

// SensitiveCategory reports whether the field table marks any field of c
// sensitive (precise location). Children's data is sensitive too under PIPL
// art. 28, but it is not a category of its own: activities that may process
// it say so with Activity.Sensitive.
func SensitiveCategory(c Category) bool {
	for _, f := range fieldTable {
		if f.Category == c && f.Sensitive {
			return true
		}
	}
	return false
}

// Backend is a kind of place an activity keeps or sends data. The register
// names kinds, not hosts, because the same code runs on the embedded
// defaults and in production; BackendInfo says what each kind is in
// production, which is what entrusted processing is about.
type Backend string

const (
	BackendStore      Backend = "store"             // documents: SQLite file / Cloud Firestore
	BackendKeys       Backend = "keys"              // the key ring, kept in the document store
	BackendBlob       Backend = "blob"              // exports: directory / Amazon S3
	BackendMail       Backend = "mail"              // outbound mail: outbox / Amazon SES v2
	BackendEvents     Backend = "events"            // the event broker: in-process / Knative (Kafka), self-operated
	BackendPartner    Backend = "partner"           // a registered partner's systems (feed, webhook)
	BackendDeveloper  Backend = "developer"         // an app developer's push webhook
	BackendThirdParty Backend = "named_third_party" // an endpoint the subject names (portability, R10)
	BackendPublic     Backend = "public"            // published for anyone to read (announcements)
)

// BackendDesc describes a backend kind for the register.
type BackendDesc struct {
	Kind       Backend `json:"kind"`
	Embedded   string  `json:"embedded"`
	Production string  `json:"production"`
	Location   string  `json:"location"` // the variable that declares it, or who decides
	// Entrusted: in production a service provider processes the data on
	// Veil's behalf (PIPL art. 21).
	Entrusted bool `json:"entrusted"`
	// Outside: the data leaves Veil's control to another processor
	// (provision, PIPL art. 23) or to the public (disclosure, art. 25).
	Outside bool `json:"outside"`
}

var backendTable = [...]BackendDesc{
	{BackendStore, "SQLite file under VEIL_DATA", "Google Cloud Firestore", "VEIL_STORE_LOCATION", true, false},
	{BackendKeys, "key ring sealed by the master key, in the store", "same, in Cloud Firestore", "VEIL_STORE_LOCATION", true, false},
	{BackendBlob, "directory under VEIL_DATA", "Amazon S3 (SSE AES256)", "VEIL_BLOB_LOCATION", true, false},
	{BackendMail, "outbox directory (.eml)", "Amazon SES v2", "VEIL_MAIL_LOCATION", true, false},
	{BackendEvents, "in-process broker", "Knative Eventing broker (Kafka), operated by Veil", "the cluster's region", false, false},
	{BackendPartner, "-", "registered partner's pull client or webhook", "declared at partner registration", false, true},
	{BackendDeveloper, "-", "app developer's push webhook", "the developer's", false, true},
	{BackendThirdParty, "-", "HTTPS endpoint the subject names (portability)", "the subject's choice", false, true},
	{BackendPublic, "-", "announcement pages served by Veil", "public", false, true},
}

// Backends describes every backend kind.
func Backends() []BackendDesc { return append([]BackendDesc(nil), backendTable[:]...) }

func backendDesc(b Backend) (BackendDesc, bool) {
	for _, d := range backendTable {
		if d.Kind == b {
			return d, true
		}
	}
	return BackendDesc{}, false
}

// Retention values an activity may name besides the retention classes.
const (
	RetainTransient       = "transient"        // nothing kept beyond the handling of one request or event
	RetainWhileRegistered = "while_registered" // registries: kept while the app or partner is registered
)

// Activity is one processing activity: what a function does with personal
// data, as the register shows it. Functions declare theirs in
// functions.Function.Processing.
type Activity struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Categories  []Category `json:"categories"`
	Purposes    []Purpose  `json:"purposes"`
	// Recipients outside Veil's own staff and functions (providers,
	// partners, developers, the public); empty when none.
	Recipients []string  `json:"recipients,omitempty"`
	Location   []Backend `json:"location"`
	// Retention is a retention class (ClassAdRequests…), RetainTransient or
	// RetainWhileRegistered.
	Retention string `json:"retention"`

	Sensitive          bool `json:"sensitive"`           // sensitive personal information (location, children)
	AutomatedDecisions bool `json:"automated_decisions"` // decisions about a person made by a program (PIPL art. 24)
	Entrusted          bool `json:"entrusted"`           // a provider processes it on Veil's behalf (art. 21)
	Provision          bool `json:"provision"`           // provided to another processor (art. 23)
	Disclosure         bool `json:"disclosure"`          // made public (art. 25)
	TransfersAbroad    bool `json:"transfers_abroad"`    // may leave mainland China (art. 38-39)

	// Assessments are the ids of the impact-assessment records
	// (docs/assessments/<id>.md) that cover this activity.
	Assessments []string `json:"assessments,omitempty"`
}

// AssessmentKind is a kind of processing the policy (§5(2), PIPL art. 55)
// assesses in advance.
type AssessmentKind string

const (
	AssessSensitive   AssessmentKind = "sensitive"
	AssessAutomated   AssessmentKind = "automated_decision"
	AssessEntrusted   AssessmentKind = "entrusted"
	AssessProvision   AssessmentKind = "provision"
	AssessDisclosure  AssessmentKind = "disclosure"
	AssessCrossBorder AssessmentKind = "cross_border"
)

// AssessmentKinds lists the kinds in the policy's order.
func AssessmentKinds() []AssessmentKind {
	return []AssessmentKind{AssessSensitive, AssessAutomated, AssessEntrusted, AssessProvision, AssessDisclosure, AssessCrossBorder}
}

// NeedsAssessment lists the kinds of assessment the activity needs.
func (a Activity) NeedsAssessment() []AssessmentKind {
	var out []AssessmentKind
	for _, x := range []struct {
		on   bool
		kind AssessmentKind
	}{{a.Sensitive, AssessSensitive}, {a.AutomatedDecisions, AssessAutomated}, {a.Entrusted, AssessEntrusted},
		{a.Provision, AssessProvision}, {a.Disclosure, AssessDisclosure}, {a.TransfersAbroad, AssessCrossBorder}} {
		if x.on {
			out = append(out, x.kind)
		}
	}
	return out
}

// Validate checks an activity against the vocabulary and against itself:
// the flags must agree with the categories and locations it declares, so a
// declaration cannot name Firestore and forget that it is entrusted, or
// name precise location and forget that it is sensitive.
func (a Activity) Validate() error {
	switch {
	case strings.TrimSpace(a.Name) == "":
		return FieldError("name", "an activity needs a name")
	case strings.TrimSpace(a.Description) == "":
		return FieldError("description", "%s: say what the activity does", a.Name)
	case len(a.Categories) == 0:
		return FieldError("categories", "%s: declare the data categories it processes", a.Name)
	case len(a.Purposes) == 0:
		return FieldError("purposes", "%s: declare its purposes", a.Name)
	case len(a.Location) == 0:
		return FieldError("location", "%s: declare where the data is kept or sent", a.Name)
	}
	sensitive := false
	for _, c := range a.Categories {
		if !c.Valid() {
			return FieldError("categories", "%s: unknown category %q", a.Name, c)
		}
		sensitive = sensitive || SensitiveCategory(c)
	}
	for _, p := range a.Purposes {
		if !slices.Contains(Purposes(), p) {
			return FieldError("purposes", "%s: unknown purpose %q", a.Name, p)
		}
	}
	if a.Retention != RetainTransient && a.Retention != RetainWhileRegistered && !slices.Contains(RetentionClassNames(), a.Retention) {
		return FieldError("retention", "%s: %q is not a retention class (%s) nor %s/%s", a.Name, a.Retention,
			strings.Join(RetentionClassNames(), ", "), RetainTransient, RetainWhileRegistered)
	}
	entrusted, outside := false, false
	for _, b := range a.Location {
		d, ok := backendDesc(b)
		if !ok {
			return FieldError("location", "%s: unknown backend kind %q", a.Name, b)
		}
		entrusted = entrusted || d.Entrusted
		outside = outside || d.Outside
	}
	switch {
	case sensitive && !a.Sensitive:
		return FieldError("sensitive", "%s: it processes a sensitive category, so it is sensitive processing", a.Name)
	case entrusted != a.Entrusted:
		return FieldError("entrusted", "%s: entrusted must be %v: its locations %v %s a service provider in production", a.Name, entrusted, a.Location, map[bool]string{true: "include", false: "do not include"}[entrusted])
	case outside && !(a.Provision || a.Disclosure):
		return FieldError("provision", "%s: data sent outside Veil is a provision or a disclosure", a.Name)
	case (a.Provision || a.Disclosure) && !outside:
		return FieldError("location", "%s: a provision or disclosure needs the recipient's kind in location", a.Name)
	case (a.Provision || a.Disclosure || a.Entrusted) && len(a.Recipients) == 0:
		return FieldError("recipients", "%s: name who receives the data", a.Name)
	}
	return nil
}

// Assessment outcomes.
const (
	OutcomeApproved             = "approved"
	OutcomeApprovedWithMeasures = "approved_with_measures"
	OutcomeRejected             = "rejected"
)

// Assessment is the head of one impact-assessment record
// (docs/assessments/<id>.md): front matter between "---" lines, then
// Markdown with at least a "## Measures" section listing what is done.
type Assessment struct {
	ID       string           `json:"id"`
	Title    string           `json:"title"`
	Kinds    []AssessmentKind `json:"kinds"`
	Date     time.Time        `json:"date"`
	Assessor string           `json:"assessor"`
	Outcome  string           `json:"outcome"`
	Review   *time.Time       `json:"review,omitempty"` // next scheduled review
	Measures []string         `json:"measures"`
}

// maxAssessment bounds a record; a real one is a few KiB.
const maxAssessment = 256 << 10

// ParseAssessment reads one record. id is the file's name without ".md";
// the front matter must agree with it, so a copied file cannot silently
// stand in for another activity's assessment.
func ParseAssessment(id string, data []byte) (Assessment, error) {
	a := Assessment{}
	if len(data) > maxAssessment {
		return a, Errorf(ETOOLARGE, "assessment %s: larger than %d bytes", id, maxAssessment)
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	rest, ok := strings.CutPrefix(text, "---\n")
	if !ok {
		return a, FieldError("front matter", "assessment %s: must start with a --- front matter block", id)
	}
	head, body, ok := strings.Cut(rest, "\n---\n")
	if !ok {
		return a, FieldError("front matter", "assessment %s: front matter is not closed by ---", id)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(head, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return a, FieldError("front matter", "assessment %s: %q is not key: value", id, clipText(line))
		}
		if seen[k] {
			return a, FieldError(k, "assessment %s: %s given twice", id, k)
		}
		seen[k] = true
		var err error
		switch k {
		case "id":
			a.ID = v
		case "title":
			a.Title = v
		case "kinds":
			for _, s := range strings.Split(v, ",") {
				kind := AssessmentKind(strings.TrimSpace(s))
				if !slices.Contains(AssessmentKinds(), kind) {
					return a, FieldError("kinds", "assessment %s: unknown kind %q", id, clipText(string(kind)))
				}
				a.Kinds = append(a.Kinds, kind)
			}
		case "date":
			a.Date, err = time.Parse(time.DateOnly, v)
		case "review":
			var t time.Time
			t, err = time.Parse(time.DateOnly, v)
			a.Review = &t
		case "assessor":
			a.Assessor = v
		case "outcome":
			a.Outcome = v
		default:
			return a, FieldError(clipText(k), "assessment %s: unknown key", id)
		}
		if err != nil {
			return a, FieldError(k, "assessment %s: %s is YYYY-MM-DD", id, k)
		}
	}
	a.Measures = listUnder(body, "## Measures")
	switch {
	case a.ID != id:
		return a, FieldError("id", "assessment %s: front matter says id %q", id, clipText(a.ID))
	case a.Title == "":
		return a, FieldError("title", "assessment %s: needs a title", id)
	case len(a.Kinds) == 0:
		return a, FieldError("kinds", "assessment %s: name the kinds of processing it assesses", id)
	case a.Date.IsZero():
		return a, FieldError("date", "assessment %s: needs the date it was made", id)
	case a.Assessor == "":
		return a, FieldError("assessor", "assessment %s: needs who assessed", id)
	case a.Outcome != OutcomeApproved && a.Outcome != OutcomeApprovedWithMeasures && a.Outcome != OutcomeRejected:
		return a, FieldError("outcome", "assessment %s: outcome is %s, %s or %s", id, OutcomeApproved, OutcomeApprovedWithMeasures, OutcomeRejected)
	case a.Review != nil && !a.Review.After(a.Date):
		return a, FieldError("review", "assessment %s: the review date must come after the assessment", id)
	case len(a.Measures) == 0:
		return a, FieldError("measures", "assessment %s: list the measures under a \"## Measures\" heading", id)
	}
	return a, nil
}

// listUnder returns the list items ("- " or "1. ") of the section that
// starts with heading, up to the next heading of the same or higher level.
func listUnder(body, heading string) []string {
	var out []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), maxAssessment)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			switch {
			case in && strings.HasPrefix(line, "###"): // a subsection of Measures
			case in:
				return out
			default:
				in = line == heading
			}
			continue
		}
		if !in {
			continue
		}
		item := ""
		if s, ok := strings.CutPrefix(line, "- "); ok {
			item = s
		} else if i := strings.Index(line, ". "); i > 0 && i <= 3 && strings.Trim(line[:i], "0123456789") == "" {
			item = line[i+2:]
		}
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Entry is one row of the register: an activity and the function that
// performs it.
type Entry struct {
	Function string `json:"function"`
	Activity
}

// Register is the records of processing.
type Register struct {
	Entries  []Entry       `json:"activities"`
	Backends []BackendDesc `json:"backends"`
}

// NewRegister builds the register from each function's declarations
// (function name → activities) in a stable order, validating every one.
// A function that declares nothing is an error: every function touches
// some personal data, if only subject keys in events.
func NewRegister(decl map[string][]Activity) (Register, error) {
	r := Register{Backends: Backends()}
	names := make([]string, 0, len(decl))
	for n := range decl {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []string
	for _, n := range names {
		if len(decl[n]) == 0 {
			errs = append(errs, fmt.Sprintf("function %s declares no processing activity", n))
		}
		for _, a := range decl[n] {
			if err := a.Validate(); err != nil {
				errs = append(errs, fmt.Sprintf("function %s: %s", n, ErrorMessage(err)))
			}
			r.Entries = append(r.Entries, Entry{Function: n, Activity: a})
		}
	}
	if len(errs) > 0 {
		return r, Errorf(EINVALID, "records of processing: %s", strings.Join(errs, "; "))
	}
	return r, nil
}

// CheckAssessments reports every activity that needs an assessment kind no
// approved record it names covers, every name that has no record, and
// every record dated after now (assessments are made in advance).
func (r Register) CheckAssessments(records []Assessment, now time.Time) []error {
	byID := map[string]Assessment{}
	for _, a := range records {
		byID[a.ID] = a
	}
	var errs []error
	for _, e := range r.Entries {
		covered := map[AssessmentKind]bool{}
		for _, id := range e.Assessments {
			a, ok := byID[id]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s / %s names assessment %q, which has no record under docs/assessments/", e.Function, e.Name, id))
				continue
			case a.Outcome == OutcomeRejected:
				errs = append(errs, fmt.Errorf("%s / %s runs although assessment %s rejected it", e.Function, e.Name, id))
				continue
			case a.Date.After(now):
				errs = append(errs, fmt.Errorf("assessment %s is dated %s, after the processing it must precede", id, a.Date.Format(time.DateOnly)))
			}
			for _, k := range a.Kinds {
				covered[k] = true
			}
		}
		for _, k := range e.NeedsAssessment() {
			if !covered[k] {
				errs = append(errs, fmt.Errorf("%s / %s is %s processing but no approved assessment it names covers %s", e.Function, e.Name, k, k))
			}
		}
	}
	return errs
}

// JSON is the register as `veil processing --json` prints it.
func (r Register) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Markdown is the register as docs/processing.md holds it. It depends on
// the declarations only, so the committed file can be compared with it.
func (r Register) Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Records of processing\n\n")
	b.WriteString("<!-- Generated by `veil processing` from each function's `Processing` declaration. Do not edit:\n")
	b.WriteString("     regenerate with `go run ./cmd/veil processing > docs/processing.md`; `go test ./cmd/veil` fails when it differs. -->\n\n")
	b.WriteString("Every function of the suite declares, next to its code, what personal data it processes (SPEC R25;\n")
	b.WriteString("PIPL art. 55-56). Activities of the kinds the policy's §5(2) lists need a data impact assessment on\n")
	b.WriteString("record before they run; the assessments are under [assessments/](assessments/).\n\n")
	b.WriteString("| function | activity | categories | purposes | location | retention | flags | assessments |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, e := range r.Entries {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", e.Function, mdEscape(e.Name),
			joinAny(e.Categories), joinAny(e.Purposes), joinAny(e.Location), e.Retention, flags(e.Activity), links(e.Assessments))
	}
	b.WriteString("\nFlags: S sensitive, A automated decisions, E entrusted processing, P provision to another processor,\n")
	b.WriteString("D public disclosure, X may transfer abroad (only with cross-border consent).\n\n")
	b.WriteString("## Activities\n")
	for _, e := range r.Entries {
		fmt.Fprintf(&b, "\n### %s: %s\n\n%s\n\n", e.Function, mdEscape(e.Name), strings.TrimSpace(e.Description))
		if len(e.Recipients) > 0 {
			fmt.Fprintf(&b, "- Recipients: %s\n", mdEscape(strings.Join(e.Recipients, "; ")))
		}
		if k := e.NeedsAssessment(); len(k) > 0 {
			fmt.Fprintf(&b, "- Needs assessment: %s (%s)\n", joinAny(k), links(e.Assessments))
		}
	}
	b.WriteString("\n## Where data is kept or sent\n\n")
	b.WriteString("| kind | embedded (`veil serve`) | production | location declared by | entrusted | leaves Veil |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, d := range r.Backends {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", d.Kind, d.Embedded, d.Production, d.Location, yes(d.Entrusted), yes(d.Outside))
	}
	return b.Bytes()
}

func flags(a Activity) string {
	var s []string
	for _, x := range []struct {
		on bool
		f  string
	}{{a.Sensitive, "S"}, {a.AutomatedDecisions, "A"}, {a.Entrusted, "E"}, {a.Provision, "P"}, {a.Disclosure, "D"}, {a.TransfersAbroad, "X"}} {
		if x.on {
			s = append(s, x.f)
		}
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

func links(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("[%s](assessments/%s.md)", id, id)
	}
	return strings.Join(out, ", ")
}

func joinAny[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// mdEscape keeps a declaration's text from breaking the table.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
