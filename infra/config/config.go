// Package config reads Veil's configuration from the environment and
// validates all of it at start-up: a bad value stops the process with a
// message naming the variable, instead of failing later on a request.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

// MaxValueBytes bounds any one variable; nothing legitimate comes close.
const MaxValueBytes = 4096

// Config is the whole configuration. The zero value is not valid; use Load.
type Config struct {
	Addr         string   // VEIL_ADDR
	Data         string   // VEIL_DATA
	Functions    []string // VEIL_FUNCTIONS; empty = all
	PublicURL    string   // VEIL_PUBLIC_URL
	OpsToken     string   // VEIL_OPS_TOKEN; empty = generated under Data by veil serve
	InboundToken string   // VEIL_INBOUND_TOKEN: the privacy mailbox webhook's credential; empty = ops token only
	MasterKey    []byte   // VEIL_MASTER_KEY (base64, 32 bytes); empty = generated under Data
	LogLevel     string   // VEIL_LOG_LEVEL
	Production   bool     // VEIL_PRODUCTION: strict outbound checks (portability SSRF)

	Store             string // VEIL_STORE: sqlite | firestore
	StoreLocation     string // VEIL_STORE_LOCATION
	FirestoreProject  string // VEIL_FIRESTORE_PROJECT (or GOOGLE_CLOUD_PROJECT)
	FirestoreDatabase string // VEIL_FIRESTORE_DATABASE

	Blob         string // VEIL_BLOB: dir | s3
	BlobLocation string // VEIL_BLOB_LOCATION
	S3Bucket     string // VEIL_S3_BUCKET
	S3Region     string // VEIL_S3_REGION
	S3Endpoint   string // VEIL_S3_ENDPOINT (stand-ins; empty = AWS)

	Mail         string // VEIL_MAIL: outbox | ses
	MailLocation string // VEIL_MAIL_LOCATION
	MailFrom     string // VEIL_MAIL_FROM
	PrivacyTeam  string // VEIL_PRIVACY_TEAM: escalations go here
	SESRegion    string // VEIL_SES_REGION
	SESEndpoint  string // VEIL_SES_ENDPOINT

	Broker       string        // VEIL_BROKER: inprocess | knative
	Sink         string        // K_SINK (SinkBinding)
	EventRetry   int           // VEIL_EVENT_RETRY
	EventBackoff time.Duration // VEIL_EVENT_BACKOFF

	ExportTTL time.Duration // VEIL_EXPORT_TTL: how long a download link works

	// AllowCrossBorder (VEIL_ALLOW_CROSS_BORDER) lets a backend located
	// outside mainland China start at all (R6); without it such a
	// configuration is refused at start-up. Writes of CN data there still
	// need each subject's recorded cross-border consent.
	AllowCrossBorder bool
	// RetentionOverrides holds the VEIL_RETENTION_<CLASS> variables that
	// were set (class name → period), already checked against the
	// policy's legal floors; Retention applies them.
	RetentionOverrides map[string]time.Duration
}

// Error is a configuration error naming the variable.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return "config: " + e.Var + ": " + e.Msg }

// Load reads the configuration through getenv (os.Getenv in production, a
// map in tests). All problems are reported together.
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	get := func(name, def string) string {
		v := strings.TrimSpace(getenv(name))
		if len(v) > MaxValueBytes {
			errs = append(errs, &Error{name, fmt.Sprintf("longer than %d bytes", MaxValueBytes)})
			return def
		}
		if v == "" {
			return def
		}
		return v
	}
	oneOf := func(name, def string, allowed ...string) string {
		v := get(name, def)
		for _, a := range allowed {
			if v == a {
				return v
			}
		}
		errs = append(errs, &Error{name, fmt.Sprintf("must be one of %s, not %q", strings.Join(allowed, ", "), v)})
		return def
	}
	duration := func(name string, def time.Duration) time.Duration {
		v := get(name, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, &Error{name, fmt.Sprintf("must be a positive duration such as 30s or 24h, not %q", v)})
			return def
		}
		return d
	}
	c := Config{
		Addr:              get("VEIL_ADDR", "127.0.0.1:8080"),
		Data:              get("VEIL_DATA", "./.veil-data"),
		OpsToken:          get("VEIL_OPS_TOKEN", ""),
		InboundToken:      get("VEIL_INBOUND_TOKEN", ""),
		LogLevel:          oneOf("VEIL_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		Store:             oneOf("VEIL_STORE", "sqlite", "sqlite", "firestore"),
		StoreLocation:     get("VEIL_STORE_LOCATION", "cn-local"),
		FirestoreProject:  get("VEIL_FIRESTORE_PROJECT", get("GOOGLE_CLOUD_PROJECT", "")),
		FirestoreDatabase: get("VEIL_FIRESTORE_DATABASE", "(default)"),
		Blob:              oneOf("VEIL_BLOB", "dir", "dir", "s3"),
		BlobLocation:      get("VEIL_BLOB_LOCATION", "cn-local"),
		S3Bucket:          get("VEIL_S3_BUCKET", ""),
		S3Region:          get("VEIL_S3_REGION", "cn-north-1"),
		S3Endpoint:        get("VEIL_S3_ENDPOINT", ""),
		Mail:              oneOf("VEIL_MAIL", "outbox", "outbox", "ses"),
		MailLocation:      get("VEIL_MAIL_LOCATION", "cn-local"),
		MailFrom:          get("VEIL_MAIL_FROM", "privacy@veil.example"),
		PrivacyTeam:       get("VEIL_PRIVACY_TEAM", "privacy-team@veil.example"),
		SESRegion:         get("VEIL_SES_REGION", "cn-north-1"),
		SESEndpoint:       get("VEIL_SES_ENDPOINT", ""),
		Broker:            oneOf("VEIL_BROKER", "", "", "inprocess", "knative"),
		Sink:              get("K_SINK", ""),
		EventBackoff:      duration("VEIL_EVENT_BACKOFF", time.Second),
		ExportTTL:         duration("VEIL_EXPORT_TTL", 7*24*time.Hour),
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, &Error{"VEIL_ADDR", fmt.Sprintf("must be host:port, not %q", c.Addr)})
	}
	c.PublicURL = strings.TrimRight(get("VEIL_PUBLIC_URL", "http://"+c.Addr), "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, &Error{"VEIL_PUBLIC_URL", "must be an absolute http(s) URL"})
	}
	if fs := get("VEIL_FUNCTIONS", ""); fs != "" && fs != "all" {
		for _, f := range strings.Split(fs, ",") {
			if f = strings.TrimSpace(f); f != "" {
				c.Functions = append(c.Functions, f)
			}
		}
	}
	if c.OpsToken != "" && len(c.OpsToken) < 32 {
		errs = append(errs, &Error{"VEIL_OPS_TOKEN", "must be at least 32 characters (use: openssl rand -hex 32)"})
	}
	if c.InboundToken != "" && len(c.InboundToken) < 32 {
		errs = append(errs, &Error{"VEIL_INBOUND_TOKEN", "must be at least 32 characters (use: openssl rand -hex 32)"})
	}
	if k := get("VEIL_MASTER_KEY", ""); k != "" {
		key, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(key) != 32 {
			errs = append(errs, &Error{"VEIL_MASTER_KEY", "must be 32 bytes, base64-encoded (use: openssl rand -base64 32)"})
		}
		c.MasterKey = key
	}
	if p := get("VEIL_PRODUCTION", "false"); p != "" {
		b, err := strconv.ParseBool(p)
		if err != nil {
			errs = append(errs, &Error{"VEIL_PRODUCTION", "must be true or false"})
		}
		c.Production = b
	}
	if p := get("VEIL_ALLOW_CROSS_BORDER", "false"); p != "" {
		b, err := strconv.ParseBool(p)
		if err != nil {
			errs = append(errs, &Error{"VEIL_ALLOW_CROSS_BORDER", "must be true or false"})
		}
		c.AllowCrossBorder = b
	}
	overrides, rerr := retentionOverrides(get)
	if rerr != nil {
		errs = append(errs, rerr)
	}
	c.RetentionOverrides = overrides
	retry := get("VEIL_EVENT_RETRY", "5")
	n, err := strconv.Atoi(retry)
	if err != nil || n < 0 || n > 100 {
		errs = append(errs, &Error{"VEIL_EVENT_RETRY", "must be a whole number from 0 to 100"})
	}
	c.EventRetry = n
	for _, a := range []struct{ name, v string }{{"VEIL_MAIL_FROM", c.MailFrom}, {"VEIL_PRIVACY_TEAM", c.PrivacyTeam}} {
		if _, err := mail.ParseAddress(a.v); err != nil {
			errs = append(errs, &Error{a.name, "must be an email address"})
		}
	}
	if c.Broker == "" {
		// Knative injects K_SINK through the SinkBinding; its presence is
		// the signal that a real broker is there.
		c.Broker = "inprocess"
		if c.Sink != "" {
			c.Broker = "knative"
		}
	}
	if c.Broker == "knative" && c.Sink == "" {
		errs = append(errs, &Error{"K_SINK", "VEIL_BROKER=knative needs the broker URL in K_SINK (bind a SinkBinding)"})
	}
	if c.Store == "firestore" && c.FirestoreProject == "" {
		errs = append(errs, &Error{"VEIL_FIRESTORE_PROJECT", "VEIL_STORE=firestore needs a project id"})
	}
	if c.Blob == "s3" && c.S3Bucket == "" {
		errs = append(errs, &Error{"VEIL_S3_BUCKET", "VEIL_BLOB=s3 needs a bucket"})
	}
	return c, errors.Join(errs...)
}

// retentionOverrides reads VEIL_RETENTION_<CLASS> for every class of the
// policy (getenv cannot list variables, so a misspelt class name is not
// seen; docs/retention.md lists the exact names). Each value is parsed
// strictly and checked against its class's legal floor, so a network-log
// period under six months stops the process at start-up, naming the
// variable.
func retentionOverrides(get func(name, def string) string) (map[string]time.Duration, error) {
	var errs []error
	var out map[string]time.Duration
	policy := privacy.DefaultRetention()
	for _, class := range privacy.RetentionClassNames() {
		name := privacy.RetentionVar(class)
		v := get(name, "")
		if v == "" {
			continue
		}
		d, err := privacy.ParseRetention(v)
		if err == nil {
			policy, err = policy.With(class, d)
		}
		if err != nil {
			errs = append(errs, &Error{name, privacy.ErrorMessage(err)})
			continue
		}
		if out == nil {
			out = map[string]time.Duration{}
		}
		out[class] = d
	}
	if len(errs) == 0 {
		if err := policy.Check(); err != nil {
			// The one rule between classes ties the audit log to the
			// network logs: blame the variable the operator set, so
			// raising only the logs' period points at that line.
			name := retentionVarOf(err)
			if _, setAudit := out[privacy.ClassAudit]; !setAudit {
				name = privacy.RetentionVar(privacy.ClassNetworkSecurityLogs)
			}
			errs = append(errs, &Error{name, privacy.ErrorMessage(err) + "; set VEIL_RETENTION_AUDIT at least as long"})
		}
	}
	return out, errors.Join(errs...)
}

// retentionVarOf names the variable a policy error is about.
func retentionVarOf(err error) string {
	var pe *privacy.Error
	if errors.As(err, &pe) && pe.Field != "" {
		return privacy.RetentionVar(pe.Field)
	}
	return "VEIL_RETENTION_AUDIT"
}

// Retention is the retention policy in force: the defaults with the
// VEIL_RETENTION_* overrides applied. A Config built by hand (tests) may
// hold overrides Load would have refused; they are reported here.
func (c Config) Retention() (privacy.Retention, error) {
	p := privacy.DefaultRetention()
	for _, class := range privacy.RetentionClassNames() {
		d, ok := c.RetentionOverrides[class]
		if !ok {
			continue
		}
		var err error
		if p, err = p.With(class, d); err != nil {
			return p, &Error{privacy.RetentionVar(class), privacy.ErrorMessage(err)}
		}
	}
	if err := p.Check(); err != nil {
		return p, &Error{retentionVarOf(err), privacy.ErrorMessage(err)}
	}
	return p, nil
}

// Enabled reports whether function name runs in this process.
func (c Config) Enabled(name string) bool {
	if len(c.Functions) == 0 {
		return true
	}
	for _, f := range c.Functions {
		if f == name {
			return true
		}
	}
	return false
}
