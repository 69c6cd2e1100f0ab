package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// The ops commands (veil apps|requests|incidents|policies|holds|cease|
// dead-letters) talk to a running suite over its HTTP API with the ops
// token, exactly as a script with curl would; they never open the store.
// So they work against `veil serve` and against Knative alike, and every
// rule the API enforces holds for them too.
//
// Where they connect: --url, else VEIL_URL, else http://127.0.0.1:8080.
// The token: --token, else VEIL_OPS_TOKEN, else the file
// $VEIL_DATA/ops-token that `veil serve` writes (VEIL_DATA defaults to
// ./.veil-data). Output is for people (aligned tables) unless --json,
// which prints the API's JSON for scripts. A refusal prints the problem's
// detail and exits 1.

const defaultURL = "http://127.0.0.1:8080"

// opsFlags are the flags every ops command takes.
type opsFlags struct {
	url, token string
	json       bool
	timeout    time.Duration
}

func (o *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "url", "", "the suite's base URL (default $VEIL_URL or "+defaultURL+")")
	fs.StringVar(&o.token, "token", "", "the ops token (default $VEIL_OPS_TOKEN or $VEIL_DATA/ops-token)")
	fs.BoolVar(&o.json, "json", false, "print JSON for scripts instead of tables")
	fs.DurationVar(&o.timeout, "http-timeout", 30*time.Second, "how long one API call may take")
}

// client is a connection to a running suite.
type client struct {
	env      Env
	base     string
	token    string
	json     bool
	operator string
	http     *http.Client
}

var operatorPattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// connect resolves the URL and token.
func (o *opsFlags) connect(env Env) (*client, error) {
	base := o.url
	if base == "" {
		base = env.Getenv("VEIL_URL")
	}
	if base == "" {
		base = defaultURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the URL %q is not an http(s) base URL", base)
	}
	tok := o.token
	if tok == "" {
		tok = env.Getenv("VEIL_OPS_TOKEN")
	}
	if tok == "" {
		data := env.Getenv("VEIL_DATA")
		if data == "" {
			data = ".veil-data"
		}
		b, err := os.ReadFile(filepath.Join(data, "ops-token"))
		if err != nil {
			return nil, fmt.Errorf("no ops token: pass --token, set VEIL_OPS_TOKEN, or run where $VEIL_DATA/ops-token is (%v)", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	c := &client{env: env, base: strings.TrimRight(base, "/"), token: tok, json: o.json,
		http: &http.Client{Timeout: o.timeout}}
	// The history of a request and of a hold names who acted.
	for _, k := range []string{"VEIL_OPERATOR", "USER"} {
		if v := env.Getenv(k); operatorPattern.MatchString(v) {
			c.operator = v
			break
		}
	}
	return c, nil
}

// problem is an RFC 9457 answer.
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Field  string `json:"field"`
}

// apiError is a refusal by the API, printed as its detail.
type apiError struct {
	method, path string
	problem
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.Status, e.Detail)
	if e.Code != "" {
		s += " (" + e.Code
		if e.Field != "" {
			s += ", field " + e.Field
		}
		s += ")"
	}
	return s
}

// call sends one request and returns the raw JSON answer. body may be nil,
// []byte (JSON already) or a value to encode.
func (c *client) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.operator != "" {
		// requests reads X-Veil-Operator, retention X-Veil-Actor.
		req.Header.Set("X-Veil-Operator", c.operator)
		req.Header.Set("X-Veil-Actor", c.operator)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (is the suite running at %s?)", method, path, err, c.base)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		e := &apiError{method: method, path: path}
		if json.Unmarshal(raw, &e.problem) != nil || e.Detail == "" {
			e.problem = problem{Detail: strings.TrimSpace(string(raw))}
		}
		e.Status = resp.StatusCode
		return nil, e
	}
	return raw, nil
}

// do calls the API and decodes the answer into out (when non-nil). It
// returns the raw answer for --json.
func (c *client) do(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	raw, err := c.call(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return raw, nil
}

// printJSON writes the API's answer indented.
func (c *client) printJSON(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = c.env.Stdout.Write(raw)
		return err
	}
	buf.WriteByte('\n')
	_, err := c.env.Stdout.Write(buf.Bytes())
	return err
}

// table writes aligned columns.
// listing is how a `veil X list` shows a list the server answers with
// under key: a table with --json off, the server's own JSON with it on.
type listing[T any] struct {
	key    string
	header []string
	rows   func([]T) [][]string
	empty  string // said on stderr when the list is empty ("": nothing)
}

func (l listing[T]) show(ctx context.Context, env Env, c *client, path string) error {
	var out map[string]json.RawMessage
	raw, err := c.do(ctx, "GET", path, nil, &out)
	if err != nil || c.json {
		return jsonOr(c, raw, err)
	}
	var items []T
	if len(out[l.key]) > 0 {
		if err := json.Unmarshal(out[l.key], &items); err != nil {
			return fmt.Errorf("GET %s: unexpected answer: %w", path, err)
		}
	}
	table(env.Stdout, l.header, l.rows(items))
	if len(items) == 0 && l.empty != "" {
		fmt.Fprintln(env.Stderr, l.empty)
	}
	return nil
}

// listCmd is a `veil X list` with no flags of its own, showing GET path.
func listCmd[T any](name, path string, l listing[T]) func(context.Context, Env, []string) error {
	return func(ctx context.Context, env Env, args []string) error {
		fs, o := newFlags(env, name)
		if _, err := parseArgs(fs, args, 0, ""); err != nil {
			return err
		}
		c, err := o.connect(env)
		if err != nil {
			return err
		}
		return l.show(ctx, env, c, path)
	}
}

func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// fields writes "name: value" lines, aligned, skipping empty values.
func fields(w io.Writer, kv ...string) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
		}
	}
	tw.Flush()
}

// when formats a time for a table; zero is "-".
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// group dispatches `veil <group> <verb>` to verbs.
type verb struct {
	usage string
	run   func(ctx context.Context, env Env, args []string) error
}

func dispatch(group string, verbs map[string]verb) func(ctx context.Context, env Env, args []string) error {
	return func(ctx context.Context, env Env, args []string) error {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			groupUsage(env.Stdout, group, verbs)
			if len(args) == 0 {
				return fmt.Errorf("%s: which subcommand?", group)
			}
			return nil
		}
		v, ok := verbs[args[0]]
		if !ok {
			groupUsage(env.Stderr, group, verbs)
			return fmt.Errorf("%s: unknown subcommand %q", group, args[0])
		}
		return v.run(ctx, env, args[1:])
	}
}

func groupUsage(w io.Writer, group string, verbs map[string]verb) {
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "usage: veil %s <subcommand> [flags]   (every subcommand: --url, --token, --json)\n\n", group)
	for _, n := range names {
		fmt.Fprintf(w, "  veil %s %s\n", group, verbs[n].usage)
	}
}

// parseArgs parses flags that may come before, between or after the
// positional arguments (`veil requests refuse ID --reason x` reads as
// people type it), and checks the number of positional arguments.
func parseArgs(fs *flag.FlagSet, args []string, positional int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != positional {
		if positional == 0 {
			return nil, fmt.Errorf("%s: unexpected argument %q", fs.Name(), pos[0])
		}
		return nil, fmt.Errorf("%s: needs %s", fs.Name(), names)
	}
	return pos, nil
}

// newFlags makes a command's flag set with the common flags.
func newFlags(env Env, name string) (*flag.FlagSet, *opsFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	o := &opsFlags{}
	o.register(fs)
	return fs, o
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ", ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseTime reads RFC 3339, or a date (midnight in Beijing time, the
// policy's time zone).
func parseTime(flagName, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return &t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, time.FixedZone("CST", 8*3600)); err == nil {
		return &t, nil
	}
	return nil, fmt.Errorf("--%s: %q is neither RFC 3339 (2026-01-02T15:04:05+08:00) nor a date (2026-01-02)", flagName, v)
}

// readText reads --file (or - for stdin) for long text.
func readText(env Env, file string) (string, error) {
	var r io.Reader
	if file == "-" {
		if env.Stdin == nil {
			return "", errors.New("no standard input")
		}
		r = env.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxFile {
		return "", fmt.Errorf("%s is larger than %d bytes", file, maxFile)
	}
	return string(b), nil
}

// maxFile bounds a file the CLI reads (an incident declaration with
// 10,000 subjects fits).
const maxFile = 1 << 20

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
