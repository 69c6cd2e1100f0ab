package blob

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDirLinksExpireAndAreBoundToTheirKey(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &Dir{Root: t.TempDir(), BaseURL: "http://veil.test", Secret: []byte("k"), Now: func() time.Time { return now }}
	link, err := d.URL(context.Background(), "exports/abc.zip", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	key := strings.TrimPrefix(u.Path, "/v1/downloads/")
	q := u.Query()
	if err := d.Verify(key, q.Get("expires"), q.Get("sig")); err != nil {
		t.Fatalf("fresh link refused: %v", err)
	}
	if err := d.Verify("exports/other.zip", q.Get("expires"), q.Get("sig")); err == nil {
		t.Fatal("a link's signature opened another key")
	}
	if err := d.Verify(key, "9999999999", q.Get("sig")); err == nil {
		t.Fatal("a changed expiry was accepted")
	}
	now = now.Add(2 * time.Hour)
	if err := d.Verify(key, q.Get("expires"), q.Get("sig")); err == nil {
		t.Fatal("an expired link was accepted")
	}
}

func TestCheckKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"exports/abc.zip": true, "a": true, "../etc/passwd": false, "/abs": false, "a/../../b": false,
		"A.zip": false, "": false, ".hidden": false, "a//b": false, "a/.b": false, "a\\b": false,
	} {
		if (CheckKey(key) == nil) != ok {
			t.Errorf("CheckKey(%q) ok=%v", key, !ok)
		}
	}
}
