package config

import (
	"errors"
	"strings"
	"testing"
)

func load(vars map[string]string) (Config, error) {
	return Load(func(k string) string { return vars[k] })
}

func TestDefaults(t *testing.T) {
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Data != "./.veil-data" || c.Store != "sqlite" || c.Blob != "dir" || c.Mail != "outbox" || c.Broker != "inprocess" {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.Enabled("ingest") || !c.Enabled("anything") {
		t.Fatal("all functions are enabled by default")
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := []struct {
		vars    map[string]string
		varName string
	}{
		{map[string]string{"VEIL_STORE": "postgres"}, "VEIL_STORE"},
		{map[string]string{"VEIL_BLOB": "gcs"}, "VEIL_BLOB"},
		{map[string]string{"VEIL_MAIL": "smtp"}, "VEIL_MAIL"},
		{map[string]string{"VEIL_ADDR": "8080"}, "VEIL_ADDR"},
		{map[string]string{"VEIL_OPS_TOKEN": "short"}, "VEIL_OPS_TOKEN"},
		{map[string]string{"VEIL_MASTER_KEY": "bm90IDMyIGJ5dGVz"}, "VEIL_MASTER_KEY"},
		{map[string]string{"VEIL_PUBLIC_URL": "ftp://x"}, "VEIL_PUBLIC_URL"},
		{map[string]string{"VEIL_LOG_LEVEL": "loud"}, "VEIL_LOG_LEVEL"},
		{map[string]string{"VEIL_EVENT_RETRY": "-1"}, "VEIL_EVENT_RETRY"},
		{map[string]string{"VEIL_EVENT_BACKOFF": "soon"}, "VEIL_EVENT_BACKOFF"},
		{map[string]string{"VEIL_EXPORT_TTL": "-5h"}, "VEIL_EXPORT_TTL"},
		{map[string]string{"VEIL_PRODUCTION": "maybe"}, "VEIL_PRODUCTION"},
		{map[string]string{"VEIL_MAIL_FROM": "not an address"}, "VEIL_MAIL_FROM"},
		{map[string]string{"VEIL_BROKER": "knative"}, "K_SINK"},
		{map[string]string{"VEIL_STORE": "firestore"}, "VEIL_FIRESTORE_PROJECT"},
		{map[string]string{"VEIL_BLOB": "s3"}, "VEIL_S3_BUCKET"},
		{map[string]string{"VEIL_DATA": strings.Repeat("x", MaxValueBytes+1)}, "VEIL_DATA"},
	}
	for _, c := range cases {
		_, err := load(c.vars)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.varName+":") {
			t.Errorf("%v: error %v does not name %s", c.vars, err, c.varName)
		}
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	_, err := load(map[string]string{"VEIL_OPS_TOKEN": "hunter2-secret"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error must not echo the secret: %v", err)
	}
}

func TestKSinkSelectsKnativeBroker(t *testing.T) {
	c, err := load(map[string]string{"K_SINK": "http://broker-ingress.knative-eventing.svc/veil/default"})
	if err != nil || c.Broker != "knative" {
		t.Fatalf("%v %+v", err, c.Broker)
	}
	c, err = load(map[string]string{"VEIL_FUNCTIONS": "ingest, consent"})
	if err != nil || !c.Enabled("consent") || c.Enabled("export") {
		t.Fatalf("VEIL_FUNCTIONS list: %v %v", err, c.Functions)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("VEIL_ADDR", "127.0.0.1:1")
	f.Add("VEIL_EVENT_BACKOFF", "1h")
	f.Add("VEIL_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("VEIL_FUNCTIONS", ",,,a,")
	f.Fuzz(func(t *testing.T, name, value string) {
		c, err := load(map[string]string{name: value})
		if err == nil && c.Addr == "" {
			t.Fatal("a valid config always has an address")
		}
		var ce *Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("config errors must name a variable: %v", err)
		}
	})
}
