package blob_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/infra/blobtest"
	"github.com/veil-privacy/veil/privacy"
)

func TestDirConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return &blob.Dir{Root: t.TempDir(), BaseURL: "http://127.0.0.1:8080", Secret: []byte("test secret"), Loc: "local:cn"}
	})
}

func TestDirVerify(t *testing.T) {
	const key = "exports/r1/bundle.zip"
	now := time.Unix(1_800_000_000, 0)
	d := &blob.Dir{Root: t.TempDir(), BaseURL: "http://h", Secret: []byte("s"), Loc: "local:cn", Now: func() time.Time { return now }}
	link, err := d.URL(t.Context(), key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	exp, sig := u.Query().Get("expires"), u.Query().Get("sig")
	if exp != "1800003600" || u.Path != "/v1/downloads/"+key {
		t.Fatalf("link %s", link)
	}
	cases := []struct {
		name, key, exp, sig string
		code                string
	}{
		{"valid", key, exp, sig, ""},
		{"other key", "exports/r2/bundle.zip", exp, sig, privacy.ENOTFOUND},
		{"extended expiry", key, "1900000000", sig, privacy.ENOTFOUND},
		{"bad expiry", key, "soon", sig, privacy.ENOTFOUND},
		{"bad sig", key, exp, "00", privacy.ENOTFOUND},
	}
	for _, c := range cases {
		if got := privacy.ErrorCode(d.Verify(c.key, c.exp, c.sig)); got != c.code {
			t.Errorf("%s: code %q, want %q", c.name, got, c.code)
		}
	}
	now = now.Add(2 * time.Hour)
	if got := privacy.ErrorCode(d.Verify(key, exp, sig)); got != privacy.EGONE {
		t.Errorf("expired link: code %q, want %q", got, privacy.EGONE)
	}
}
