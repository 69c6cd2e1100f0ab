package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/veil-privacy/veil/functions/requests"
	"github.com/veil-privacy/veil/privacy"
)

// ---- apps ----

func appsCmd() func(context.Context, Env, []string) error {
	return dispatch("apps", map[string]verb{
		"register": {"register --name N --platform android|ios --developer-email E --discloses-sdk [--child-directed] [--push-webhook URL]", appsRegister},
		"revoke":   {"revoke APP_ID", appsRevoke},
		"list":     {"list", appsList},
	})
}

func appsRegister(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "apps register")
	name := fs.String("name", "", "the app's name")
	platform := fs.String("platform", "", "android or ios")
	dev := fs.String("developer-email", "", "the developer's contact address")
	discloses := fs.Bool("discloses-sdk", false, "the developer attests its privacy policy names this SDK (required)")
	child := fs.Bool("child-directed", false, "the app is directed at children under 14")
	hook := fs.String("push-webhook", "", "the developer's push webhook for notices to end users")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	body := map[string]any{"name": *name, "platform": *platform, "developer_email": *dev,
		"discloses_sdk": *discloses, "child_directed": *child}
	if *hook != "" {
		body["push_webhook"] = *hook
	}
	var out struct {
		AppID  string `json:"app_id"`
		AppKey string `json:"app_key"`
	}
	raw, err := c.do(ctx, "POST", "/v1/apps", body, &out)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	fields(env.Stdout, "app_id", out.AppID, "app_key", out.AppKey)
	fmt.Fprintln(env.Stderr, "The app key is shown this once; only its hash is kept. Give it to the developer for X-Veil-App-Key.")
	return nil
}

type appRow struct {
	AppID          string     `json:"app_id"`
	Name           string     `json:"name"`
	Platform       string     `json:"platform"`
	DeveloperEmail string     `json:"developer_email"`
	ChildDirected  bool       `json:"child_directed"`
	Revoked        bool       `json:"revoked"`
	RevokedAt      *time.Time `json:"revoked_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

func appRows(apps ...appRow) [][]string {
	var rows [][]string
	for _, a := range apps {
		state := "active"
		if a.Revoked {
			state = "revoked " + when(a.RevokedAt)
		}
		rows = append(rows, []string{a.AppID, a.Name, a.Platform, a.DeveloperEmail, strconv.FormatBool(a.ChildDirected), state, when(&a.CreatedAt)})
	}
	return rows
}

var appHeader = []string{"APP ID", "NAME", "PLATFORM", "DEVELOPER", "CHILD", "STATE", "CREATED"}

func appsRevoke(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "apps revoke")
	pos, err := parseArgs(fs, args, 1, "an APP_ID")
	if err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var a appRow
	raw, err := c.do(ctx, "POST", "/v1/apps/"+url.PathEscape(pos[0])+"/revoke", nil, &a)
	if err != nil || c.json {
		return jsonOr(c, raw, err)
	}
	table(env.Stdout, appHeader, appRows(a))
	return nil
}

var appsList = listCmd("apps list", "/v1/apps", listing[appRow]{key: "apps", header: appHeader,
	rows: func(as []appRow) [][]string { return appRows(as...) }})

// jsonOr prints raw as JSON when there is no error.
func jsonOr(c *client, raw []byte, err error) error {
	if err != nil {
		return err
	}
	return c.printJSON(raw)
}

// ---- requests ----

func requestsCmd() func(context.Context, Env, []string) error {
	return dispatch("requests", map[string]verb{
		"list":    {"list [--status S] [--type T] [--limit N] [--all]", requestsList},
		"show":    {"show ID", requestsShow},
		"approve": {"approve ID [--type T]   (a request in review; --type classifies an unclear mail)", requestsApprove},
		"refuse":  {"refuse ID --reason CODE [--note TEXT]   (CODE: " + strings.Join(refusalCodes(), ", ") + ")", requestsRefuse},
		"answer":  {"answer ID --text TEXT | --file F   (complaints and appeals; - reads stdin)", requestsAnswer},
	})
}

func refusalCodes() []string {
	var out []string
	for _, r := range privacy.RefusalReasons() {
		out = append(out, string(r))
	}
	return out
}

func requestsList(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "requests list")
	status := fs.String("status", "", "only this status (identity_unverified, verified, in_progress, needs_review, completed, refused, duplicate)")
	typ := fs.String("type", "", "only this type (access, copy, portability, correct, delete, withdraw_consent, cancel_account, complaint, appeal)")
	limit := fs.Int("limit", 50, "requests per page (1-200)")
	all := fs.Bool("all", false, "follow every page, not just the newest")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *status != "" {
		q.Set("status", *status)
	}
	if *typ != "" {
		q.Set("type", *typ)
	}
	var rows []requests.OpsView
	for {
		var page struct {
			Requests []requests.OpsView `json:"requests"`
			Next     string             `json:"next"`
		}
		raw, err := c.do(ctx, "GET", "/v1/requests?"+q.Encode(), nil, &page)
		if err != nil {
			return err
		}
		if c.json && !*all {
			return c.printJSON(raw)
		}
		rows = append(rows, page.Requests...)
		if !*all || page.Next == "" {
			break
		}
		q.Set("after", page.Next)
	}
	if c.json {
		return printValue(c, map[string]any{"requests": rows})
	}
	var out [][]string
	for _, r := range rows {
		due := when(r.DueAt)
		if r.DueError != "" {
			due = "UNKNOWN"
		}
		typ := string(r.Type)
		if typ == "" {
			typ = "(unclassified)"
		}
		out = append(out, []string{r.ID, typ, string(r.Status), r.Channel, r.SubjectHint, due, when(&r.CreatedAt)})
	}
	table(env.Stdout, []string{"ID", "TYPE", "STATUS", "CHANNEL", "SUBJECT", "DUE", "RECEIVED"}, out)
	if len(rows) == 0 {
		fmt.Fprintln(env.Stderr, "no requests match")
	}
	return nil
}

func printValue(c *client, v any) error {
	raw, err := jsonMarshal(v)
	if err != nil {
		return err
	}
	return c.printJSON(raw)
}

func requestsShow(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "requests show")
	pos, err := parseArgs(fs, args, 1, "a request ID")
	if err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	return showRequest(ctx, c, "GET", "/v1/requests/"+url.PathEscape(pos[0]), nil)
}

// showRequest sends a request call and prints the request it answers.
func showRequest(ctx context.Context, c *client, method, path string, body any) error {
	var r requests.OpsView
	raw, err := c.do(ctx, method, path, body, &r)
	if err != nil || c.json {
		return jsonOr(c, raw, err)
	}
	w := c.env.Stdout
	due := when(r.DueAt)
	if r.DueError != "" {
		due = "unknown: " + r.DueError
	}
	var corrections []string
	for k, v := range r.Corrections {
		corrections = append(corrections, k+" → "+v)
	}
	fields(w, "id", r.ID, "type", string(r.Type), "status", string(r.Status), "channel", r.Channel, "subject", r.SubjectHint,
		"app", r.AppID, "received", when(&r.CreatedAt), "verified", whenSet(r.VerifiedAt), "due", due,
		"closed", whenSet(r.ClosedAt), "duplicate of", r.DuplicateOf, "refusal", string(r.Refusal), "result", r.Result,
		"answer", r.Answer, "deliver to", r.DeliverTo, "corrections", strings.Join(corrections, "; "),
		"download", r.DownloadURL, "details", r.Details)
	if len(r.History) > 0 {
		fmt.Fprintln(w, "\nhistory:")
		var rows [][]string
		for _, h := range r.History {
			rows = append(rows, []string{when(&h.At), string(h.From), "→ " + string(h.To), h.Actor, h.Reason})
		}
		table(w, []string{"AT", "FROM", "TO", "BY", "WHY"}, rows)
	}
	return nil
}

func whenSet(t *time.Time) string {
	if t == nil {
		return ""
	}
	return when(t)
}

func requestsApprove(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "requests approve")
	typ := fs.String("type", "", "the type of an unclear mail")
	pos, err := parseArgs(fs, args, 1, "a request ID")
	if err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var body any
	if *typ != "" {
		body = map[string]string{"type": *typ}
	}
	return showRequest(ctx, c, "POST", "/v1/requests/"+url.PathEscape(pos[0])+"/approve", body)
}

func requestsRefuse(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "requests refuse")
	reason := fs.String("reason", "", "the policy's reason code: "+strings.Join(refusalCodes(), ", "))
	note := fs.String("note", "", "what the requester is told besides the reason")
	pos, err := parseArgs(fs, args, 1, "a request ID")
	if err != nil {
		return err
	}
	if !privacy.RefusalReason(*reason).Valid() {
		// The API refuses it too; saying the list here saves a round trip.
		return fmt.Errorf("requests refuse: --reason must be one of %s", strings.Join(refusalCodes(), ", "))
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	return showRequest(ctx, c, "POST", "/v1/requests/"+url.PathEscape(pos[0])+"/refuse",
		map[string]string{"reason": *reason, "note": *note})
}

func requestsAnswer(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "requests answer")
	text := fs.String("text", "", "the answer")
	file := fs.String("file", "", "read the answer from a file (- for standard input)")
	pos, err := parseArgs(fs, args, 1, "a request ID")
	if err != nil {
		return err
	}
	answer := *text
	if *file != "" {
		if answer, err = readText(env, *file); err != nil {
			return err
		}
	}
	if strings.TrimSpace(answer) == "" {
		return errors.New("requests answer: give the answer with --text or --file")
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	return showRequest(ctx, c, "POST", "/v1/requests/"+url.PathEscape(pos[0])+"/answer", map[string]string{"answer": answer})
}

// ---- incidents ----

func incidentsCmd() func(context.Context, Env, []string) error {
	return dispatch("incidents", map[string]verb{
		"declare": {"declare -f incident.yaml [--watch]", incidentsDeclare},
		"watch":   {"watch ID [--interval 2s] [--timeout 0]   (progress bar on stderr until done)", incidentsWatch},
		"list":    {"list", incidentsList},
		"report":  {"report ID   (the regulator's report)", incidentsReport},
	})
}

func incidentsDeclare(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "incidents declare")
	file := fs.String("f", "", "the declaration, YAML with the API's fields (- for standard input)")
	watch := fs.Bool("watch", false, "then watch the notices go out")
	interval := fs.Duration("interval", 2*time.Second, "with --watch: how often to look")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("incidents declare: -f incident.yaml is required (docs/cli.md has an example)")
	}
	src, err := readText(env, *file)
	if err != nil {
		return err
	}
	body, err := yamlToJSON([]byte(src))
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var out struct {
		ID string `json:"id"`
	}
	raw, err := c.do(ctx, "POST", "/v1/incidents", body, &out)
	if err != nil {
		return err
	}
	if !*watch {
		if c.json {
			return c.printJSON(raw)
		}
		fmt.Fprintln(env.Stdout, out.ID)
		fmt.Fprintf(env.Stderr, "declared; follow the notices with: veil incidents watch %s\n", out.ID)
		return nil
	}
	fmt.Fprintf(env.Stderr, "declared %s\n", out.ID)
	return watchIncident(ctx, c, out.ID, *interval, 0)
}

type incidentProgress struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Status      string     `json:"status"`
	Targeted    int64      `json:"targeted"`
	Queued      int64      `json:"queued"`
	Sent        int64      `json:"sent"`
	Failed      int64      `json:"failed"`
	Unreachable int64      `json:"unreachable"`
	Announced   bool       `json:"announced"`
	AnnouncedAt *time.Time `json:"announced_at"`
	FinishedAt  *time.Time `json:"fanout_finished_at"`
}

func incidentsWatch(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "incidents watch")
	interval := fs.Duration("interval", 2*time.Second, "how often to look")
	timeout := fs.Duration("timeout", 0, "give up after this long (0: never)")
	pos, err := parseArgs(fs, args, 1, "an incident ID")
	if err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	return watchIncident(ctx, c, pos[0], *interval, *timeout)
}

// watchIncident draws the delivery progress until every notice has an
// outcome, then prints the counts.
func watchIncident(ctx context.Context, c *client, id string, interval, timeout time.Duration) error {
	var p incidentProgress
	var raw []byte
	err := poll(ctx, interval, timeout, func() (bool, error) {
		var err error
		if raw, err = c.do(ctx, "GET", "/v1/incidents/"+url.PathEscape(id), nil, &p); err != nil {
			return false, err
		}
		progressBar(c.env.Stderr, p.Sent+p.Failed+p.Unreachable, p.Targeted,
			fmt.Sprintf("%s: sent %d, failed %d, unreachable %d, queued %d", p.Status, p.Sent, p.Failed, p.Unreachable, p.Queued))
		return p.Status == "done", nil
	})
	fmt.Fprintln(c.env.Stderr)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	announced := "no"
	if p.Announced {
		announced = "yes, " + when(p.AnnouncedAt)
	}
	fields(c.env.Stdout, "incident", p.ID, "title", p.Title, "status", p.Status, "targeted", itoa(p.Targeted),
		"sent", itoa(p.Sent), "failed", itoa(p.Failed), "unreachable", itoa(p.Unreachable), "announced", announced)
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var incidentsList = listCmd("incidents list", "/v1/incidents", listing[privacy.Incident]{key: "incidents",
	header: []string{"ID", "TITLE", "DECLARED", "NAMED SUBJECTS"},
	rows: func(is []privacy.Incident) [][]string {
		var rows [][]string
		for _, i := range is {
			rows = append(rows, []string{i.ID, i.Title, when(&i.DeclaredAt), itoa(int64(i.Scope.Subjects))})
		}
		return rows
	}})

func incidentsReport(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "incidents report")
	pos, err := parseArgs(fs, args, 1, "an incident ID")
	if err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	// The report is a structured document for the regulator: JSON is its
	// form either way.
	raw, err := c.do(ctx, "GET", "/v1/incidents/"+url.PathEscape(pos[0])+"/report", nil, nil)
	return jsonOr(c, raw, err)
}

// ---- policies ----

func policiesCmd() func(context.Context, Env, []string) error {
	return dispatch("policies", map[string]verb{
		"publish": {"publish --version V --effective-at T --summary S [--change C]... [--material] | -f policy.yaml", policiesPublish},
		"list":    {"list", policiesList},
		"watch":   {"watch VERSION [--follow] [--interval 2s] [--timeout 0]   (notices, acknowledgements, consents)", policiesWatch},
	})
}

func policiesPublish(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "policies publish")
	file := fs.String("f", "", "the revision as YAML with the API's fields (version, effective_at, material, summary, changes)")
	version := fs.String("version", "", "the version name, e.g. 2026.1")
	effective := fs.String("effective-at", "", "when it takes effect (RFC 3339, or a date: midnight Beijing time)")
	summary := fs.String("summary", "", "what changed, for the notice")
	material := fs.Bool("material", false, "the revision reduces people's rights: it applies to each only with their consent")
	var changes stringList
	fs.Var(&changes, "change", "one change (repeat the flag for each)")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	var body any
	if *file != "" {
		src, err := readText(env, *file)
		if err != nil {
			return err
		}
		b, err := yamlToJSON([]byte(src))
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		body = b
	} else {
		t, err := parseTime("effective-at", *effective)
		if err != nil {
			return err
		}
		if t == nil || *version == "" || *summary == "" {
			return errors.New("policies publish: --version, --effective-at and --summary are required (or -f policy.yaml)")
		}
		b := map[string]any{"version": *version, "effective_at": t.Format(time.RFC3339), "material": *material, "summary": *summary}
		if len(changes) > 0 {
			b["changes"] = []string(changes)
		}
		body = b
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var out struct {
		Version     string    `json:"version"`
		EffectiveAt time.Time `json:"effective_at"`
		Material    bool      `json:"material"`
	}
	raw, err := c.do(ctx, "POST", "/v1/policies", body, &out)
	if err != nil || c.json {
		return jsonOr(c, raw, err)
	}
	fields(env.Stdout, "version", out.Version, "effective", when(&out.EffectiveAt), "material", strconv.FormatBool(out.Material))
	fmt.Fprintf(env.Stderr, "published; everyone is being told. Follow it with: veil policies watch %s\n", out.Version)
	return nil
}

type policyRow struct {
	privacy.PolicyVersion
	InEffect bool `json:"in_effect"`
}

var policiesList = listCmd("policies list", "/v1/policies", listing[policyRow]{key: "policies",
	header: []string{"VERSION", "EFFECTIVE", "IN EFFECT", "MATERIAL", "SUMMARY"},
	rows: func(ps []policyRow) [][]string {
		var rows [][]string
		for _, p := range ps {
			rows = append(rows, []string{p.Version, when(&p.EffectiveAt), strconv.FormatBool(p.InEffect),
				strconv.FormatBool(p.Material), clip(p.Summary, 60)})
		}
		return rows
	}})

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

type policyProgress struct {
	Version      string    `json:"version"`
	EffectiveAt  time.Time `json:"effective_at"`
	Material     bool      `json:"material"`
	InEffect     bool      `json:"in_effect"`
	Status       string    `json:"notification_status"`
	Targeted     int64     `json:"targeted"`
	Notified     int64     `json:"notified"`
	Failed       int64     `json:"failed"`
	Unreachable  int64     `json:"unreachable"`
	Acknowledged int64     `json:"acknowledged"`
	Consented    int64     `json:"consented"`
}

// policiesWatch shows the notices going out, then the acknowledgements
// (and consents) coming in: it stops when every notice has an outcome, or
// with --follow keeps counting answers until interrupted or --timeout.
func policiesWatch(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "policies watch")
	interval := fs.Duration("interval", 2*time.Second, "how often to look")
	timeout := fs.Duration("timeout", 0, "give up after this long (0: never)")
	follow := fs.Bool("follow", false, "keep counting acknowledgements after the notices are out")
	pos, err := parseArgs(fs, args, 1, "a VERSION")
	if err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var p policyProgress
	var raw []byte
	err = poll(ctx, *interval, *timeout, func() (bool, error) {
		var err error
		if raw, err = c.do(ctx, "GET", "/v1/policies/"+url.PathEscape(pos[0]), nil, &p); err != nil {
			return false, err
		}
		answered := fmt.Sprintf("acknowledged %d", p.Acknowledged)
		if p.Material {
			answered += fmt.Sprintf(", consented %d", p.Consented)
		}
		progressBar(env.Stderr, p.Notified+p.Failed+p.Unreachable, p.Targeted,
			fmt.Sprintf("%s: notified %d, failed %d, unreachable %d; %s", p.Status, p.Notified, p.Failed, p.Unreachable, answered))
		return p.Status == "done" && !*follow, nil
	})
	fmt.Fprintln(env.Stderr)
	if err != nil && !(*follow && (errors.Is(err, context.Canceled) || strings.HasPrefix(err.Error(), "still not done"))) {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	fields(env.Stdout, "version", p.Version, "effective", when(&p.EffectiveAt), "in effect", strconv.FormatBool(p.InEffect),
		"material", strconv.FormatBool(p.Material), "notices", p.Status, "targeted", itoa(p.Targeted),
		"notified", itoa(p.Notified), "failed", itoa(p.Failed), "unreachable", itoa(p.Unreachable),
		"acknowledged", itoa(p.Acknowledged), "consented", itoa(p.Consented))
	return nil
}

// ---- holds ----

func holdsCmd() func(context.Context, Env, []string) error {
	return dispatch("holds", map[string]verb{
		"place": {"place --subject S | --subject-key K --reason R [--until T]", holdsPlace},
		"lift":  {"lift ID --reason R", holdsLift},
		"list":  {"list [--state active|lifted|all]", holdsList},
	})
}

type holdRow struct {
	ID          string     `json:"id"`
	SubjectKey  string     `json:"subject_key"`
	SubjectHint string     `json:"subject_hint"`
	Reason      string     `json:"reason"`
	Actor       string     `json:"actor"`
	PlacedAt    time.Time  `json:"placed_at"`
	Until       *time.Time `json:"until"`
	Active      bool       `json:"active"`
	LiftedAt    *time.Time `json:"lifted_at"`
	LiftedBy    string     `json:"lifted_by"`
	LiftReason  string     `json:"lift_reason"`
}

var holdHeader = []string{"ID", "SUBJECT", "REASON", "BY", "PLACED", "UNTIL", "STATE"}

func holdRows(hs ...holdRow) [][]string {
	var rows [][]string
	for _, h := range hs {
		subject := h.SubjectHint
		if subject == "" {
			subject = clip(h.SubjectKey, 16)
		}
		state := "active"
		if !h.Active {
			state = "lifted " + when(h.LiftedAt) + " by " + h.LiftedBy + ": " + h.LiftReason
		}
		until := "-"
		if h.Until != nil {
			until = when(h.Until)
		}
		rows = append(rows, []string{h.ID, subject, h.Reason, h.Actor, when(&h.PlacedAt), until, state})
	}
	return rows
}

func holdsPlace(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "holds place")
	subject := fs.String("subject", "", "the subject: account:<email> or device:<id type>:<id>")
	key := fs.String("subject-key", "", "or its subject key, as logs and audit entries name it")
	reason := fs.String("reason", "", "why deletion is blocked (one line, recorded)")
	until := fs.String("until", "", "when the hold ends by itself (RFC 3339 or a date); none: until lifted")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	t, err := parseTime("until", *until)
	if err != nil {
		return err
	}
	body := map[string]any{"reason": *reason}
	if *subject != "" {
		body["subject"] = *subject
	}
	if *key != "" {
		body["subject_key"] = *key
	}
	if t != nil {
		body["until"] = t.Format(time.RFC3339)
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var h holdRow
	raw, err := c.do(ctx, "POST", "/v1/holds", body, &h)
	if err != nil || c.json {
		return jsonOr(c, raw, err)
	}
	table(env.Stdout, holdHeader, holdRows(h))
	return nil
}

func holdsLift(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "holds lift")
	reason := fs.String("reason", "", "why the hold ends (recorded)")
	pos, err := parseArgs(fs, args, 1, "a hold ID")
	if err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var h holdRow
	raw, err := c.do(ctx, "DELETE", "/v1/holds/"+url.PathEscape(pos[0]), map[string]string{"reason": *reason}, &h)
	if err != nil || c.json {
		return jsonOr(c, raw, err)
	}
	table(env.Stdout, holdHeader, holdRows(h))
	return nil
}

func holdsList(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "holds list")
	state := fs.String("state", "active", "active, lifted or all")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	active, ok := map[string]string{"active": "true", "lifted": "false", "all": "all"}[*state]
	if !ok {
		return errors.New("holds list: --state is active, lifted or all")
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	return listing[holdRow]{key: "holds", header: holdHeader, rows: func(hs []holdRow) [][]string { return holdRows(hs...) }}.
		show(ctx, env, c, "/v1/holds?active="+active)
}

// ---- cease ----

// ceaseCmd is `veil cease --reason R --yes` (R23: irreversible, so it
// asks for --yes) and `veil cease status`.
func ceaseCmd(ctx context.Context, env Env, args []string) error {
	if len(args) > 0 && args[0] == "status" {
		return ceaseStatus(ctx, env, args[1:])
	}
	fs, o := newFlags(env, "cease")
	reason := fs.String("reason", "", "why operations cease (recorded, and in the notice)")
	effective := fs.String("effective-at", "", "when collection stops (RFC 3339 or a date; default now)")
	yes := fs.Bool("yes", false, "confirm: this stops collection and deletes or anonymizes all personal data; it cannot be undone")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	if !*yes {
		return errors.New("cease: this stops collection, tells everyone, and deletes or anonymizes all personal data, irreversibly; add --yes to confirm")
	}
	t, err := parseTime("effective-at", *effective)
	if err != nil {
		return err
	}
	body := map[string]any{"reason": *reason}
	if t != nil {
		body["effective_at"] = t.Format(time.RFC3339)
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var out struct {
		EffectiveAt time.Time `json:"effective_at"`
		EventID     string    `json:"event_id"`
	}
	raw, err := c.do(ctx, "POST", "/v1/operations/cease", body, &out)
	if err != nil || c.json {
		return jsonOr(c, raw, err)
	}
	fields(env.Stdout, "ceased", "true", "effective", when(&out.EffectiveAt), "event", out.EventID)
	fmt.Fprintln(env.Stderr, "follow the deletion with: veil cease status")
	return nil
}

func ceaseStatus(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "cease status")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	var out struct {
		Ceased      bool       `json:"ceased"`
		Collecting  bool       `json:"collecting"`
		EffectiveAt *time.Time `json:"effective_at"`
		Actor       string     `json:"actor"`
		Reason      string     `json:"reason"`
		Remaining   map[string]struct {
			N       int  `json:"n"`
			AtLeast bool `json:"at_least"`
		} `json:"remaining"`
		HeldSubjects int64 `json:"held_subjects"`
	} // the sweep's checkpoints are in --json
	raw, err := c.do(ctx, "GET", "/v1/operations", nil, &out)
	if err != nil || c.json {
		return jsonOr(c, raw, err)
	}
	var remaining []string
	for _, k := range sortedKeys(out.Remaining) {
		n := out.Remaining[k]
		at := ""
		if n.AtLeast {
			at = "≥"
		}
		remaining = append(remaining, fmt.Sprintf("%s %s%d", k, at, n.N))
	}
	fields(env.Stdout, "ceased", strconv.FormatBool(out.Ceased), "collecting", strconv.FormatBool(out.Collecting),
		"effective", whenSet(out.EffectiveAt), "by", out.Actor, "reason", out.Reason,
		"remaining", strings.Join(remaining, ", "), "held subjects", itoa(out.HeldSubjects))
	return nil
}

// ---- dead letters ----

func deadLettersCmd() func(context.Context, Env, []string) error {
	return dispatch("dead-letters", map[string]verb{
		"list":    {"list", deadLettersList},
		"redrive": {"redrive ID   (put the event back on its subscriber's queue)", deadLettersRedrive},
	})
}

// deadLetter is a row of `veil dead-letters list`.
type deadLetter struct {
	ID         string    `json:"id"`
	Subscriber string    `json:"subscriber"`
	Type       string    `json:"type"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	At         time.Time `json:"at"`
}

var deadLettersList = listCmd("dead-letters list", "/v1/dead-letters", listing[deadLetter]{key: "dead_letters",
	header: []string{"ID", "SUBSCRIBER", "TYPE", "ATTEMPTS", "AT", "ERROR"}, empty: "no dead letters",
	rows: func(ds []deadLetter) [][]string {
		var rows [][]string
		for _, d := range ds {
			rows = append(rows, []string{d.ID, d.Subscriber, d.Type, strconv.Itoa(d.Attempts), when(&d.At), clip(d.Error, 60)})
		}
		return rows
	}})

func deadLettersRedrive(ctx context.Context, env Env, args []string) error {
	fs, o := newFlags(env, "dead-letters redrive")
	pos, err := parseArgs(fs, args, 1, "a dead letter ID")
	if err != nil {
		return err
	}
	c, err := o.connect(env)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, "POST", "/v1/dead-letters/"+url.PathEscape(pos[0])+"/redrive", nil, nil); err != nil {
		return err
	}
	if c.json {
		return printValue(c, map[string]any{"redriven": pos[0]})
	}
	fmt.Fprintf(env.Stdout, "redriven %s\n", pos[0])
	return nil
}
