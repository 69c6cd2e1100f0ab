package s3_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/infra/blobtest"
	"github.com/veil-privacy/veil/infra/s3"
	"github.com/veil-privacy/veil/privacy"
)

const bucket = "veil-exports"

// fake is an in-process S3 that records the requests it gets.
type fake struct {
	URL string
	mu  sync.Mutex
	req []*http.Request
}

func newFake(t *testing.T) *fake {
	t.Helper()
	mem := s3mem.New()
	if err := mem.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(mem).Server()
	f := &fake{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.req = append(f.req, r.Clone(context.Background()))
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fake) requests() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.req...)
}

func client(endpoint string) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       "cn-north-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret-test", ""),
	})
}

func open(t *testing.T, f *fake) *s3.Store {
	t.Helper()
	s, err := s3.New(context.Background(), s3.Config{Bucket: bucket, Location: "cn-north-1", Client: client(f.URL)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return open(t, newFake(t)) })
}

// TestDefaultCredentialsChain builds the client the way production does,
// from the environment, rather than injecting one.
func TestDefaultCredentialsChain(t *testing.T) {
	f := newFake(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDENV",
		"AWS_SECRET_ACCESS_KEY":       "secret-env",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	s, err := s3.New(context.Background(), s3.Config{Bucket: bucket, Region: "cn-north-1", Endpoint: f.URL, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Location() != "cn-north-1" {
		t.Errorf("Location = %q: want the region when none is declared", s.Location())
	}
	if err := s.Put(context.Background(), "x/y.txt", strings.NewReader("hello"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if auth := reqs[len(reqs)-1].Header.Get("Authorization"); !strings.Contains(auth, "Credential=AKIDENV/") {
		t.Errorf("request not signed with the environment's credentials: %q", auth)
	}
}

// TestPutEncryptsAndTypes checks the headers each upload path sends.
func TestPutEncryptsAndTypes(t *testing.T) {
	cases := []struct {
		name string
		size int
		ct   string
		want string // the request that carries the headers
	}{
		{"single put", 1000, "application/zip", "PUT"},
		{"multipart", 9 << 20, "application/zip", "POST?uploads"},
		{"default type", 10, "", "PUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			s := open(t, f)
			if err := s.Put(context.Background(), "k.zip", io.LimitReader(zeros{}, int64(c.size)), c.ct); err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, r := range f.requests() {
				sig := r.Method
				if _, ok := r.URL.Query()["uploads"]; ok {
					sig += "?uploads"
				}
				if sig != c.want {
					continue
				}
				found = true
				if got := r.Header.Get("X-Amz-Server-Side-Encryption"); got != "AES256" {
					t.Errorf("%s: server-side encryption %q, want AES256", sig, got)
				}
				wantCT := c.ct
				if wantCT == "" {
					wantCT = "application/octet-stream"
				}
				if got := r.Header.Get("Content-Type"); got != wantCT {
					t.Errorf("%s: content type %q, want %q", sig, got, wantCT)
				}
			}
			if !found {
				t.Fatalf("no %s request was made", c.want)
			}
		})
	}
}

func TestPresignedURL(t *testing.T) {
	f := newFake(t)
	s := open(t, f)
	ctx := context.Background()
	if err := s.Put(ctx, "exports/r1/bundle.zip", strings.NewReader("zip bytes"), "application/zip"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ttl     time.Duration
		expires string
		bad     bool
	}{
		{15 * time.Minute, "900", false},
		{24 * time.Hour, "86400", false},
		{7 * 24 * time.Hour, "604800", false},
		{0, "", true},
		{8 * 24 * time.Hour, "", true},
	}
	for _, c := range cases {
		link, err := s.URL(ctx, "exports/r1/bundle.zip", c.ttl)
		if c.bad {
			if privacy.ErrorCode(err) != privacy.EINVALID {
				t.Errorf("ttl %s: want invalid, got %q, %v", c.ttl, link, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ttl %s: %v", c.ttl, err)
		}
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if got := q.Get("X-Amz-Expires"); got != c.expires {
			t.Errorf("ttl %s: X-Amz-Expires = %q, want %q", c.ttl, got, c.expires)
		}
		if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || !strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDTEST/") ||
			!regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(q.Get("X-Amz-Signature")) {
			t.Errorf("ttl %s: not a SigV4 presigned URL: %s", c.ttl, link)
		}
		if u.Path != "/"+bucket+"/exports/r1/bundle.zip" {
			t.Errorf("path %q", u.Path)
		}
	}
	// The fake does not check signatures, but the link must still fetch
	// the object: right host, bucket and key.
	link, _ := s.URL(ctx, "exports/r1/bundle.zip", time.Minute)
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "zip bytes" {
		t.Fatalf("GET presigned: %d %q", resp.StatusCode, body)
	}
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  s3.Config
	}{
		{"no bucket", s3.Config{Location: "cn-north-1", Client: client("http://127.0.0.1:1")}},
		{"no location", s3.Config{Bucket: bucket, Client: client("http://127.0.0.1:1")}},
	}
	for _, c := range cases {
		if _, err := s3.New(context.Background(), c.cfg); err == nil {
			t.Errorf("%s: want an error", c.name)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestBadKeyNoRequest: a refused key never reaches the service.
func TestBadKeyNoRequest(t *testing.T) {
	f := newFake(t)
	s := open(t, f)
	ctx := context.Background()
	for _, key := range []string{"../x", "/abs", "a/../../b", "Upper", ""} {
		_ = s.Put(ctx, key, strings.NewReader("x"), "text/plain")
		_, _ = s.Open(ctx, key)
		_ = s.Delete(ctx, key)
		_, _ = s.URL(ctx, key, time.Minute)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests for refused keys", n)
	}
}
