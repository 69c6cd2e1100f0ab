package blob

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

// Dir stores blobs as files under Root. Its links point at BaseURL's
// /v1/downloads/ route (served by the export function) and carry an expiry
// and an HMAC over key and expiry made with Secret.
type Dir struct {
	Root    string
	BaseURL string
	Secret  []byte
	Loc     string
	Now     func() time.Time
}

func (d *Dir) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Location implements Store.
func (d *Dir) Location() string { return d.Loc }

func (d *Dir) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.Root, filepath.FromSlash(key)), nil
}

// Put implements Store: written to a temporary file, then renamed, so a
// reader never sees half a bundle.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, contentType string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// Open implements Store.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil, privacy.Errorf(privacy.ENOTFOUND, "blob not found")
	}
	return f, err
}

// Delete implements Store.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// URL implements Store.
func (d *Dir) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	exp := strconv.FormatInt(d.now().Add(ttl).Unix(), 10)
	q := url.Values{"expires": {exp}, "sig": {d.sign(key, exp)}}
	return fmt.Sprintf("%s/v1/downloads/%s?%s", d.BaseURL, key, q.Encode()), nil
}

// Verify checks a link's expiry and signature in constant time.
func (d *Dir) Verify(key, expires, sig string) error {
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || !hmac.Equal([]byte(sig), []byte(d.sign(key, expires))) {
		return privacy.Errorf(privacy.ENOTFOUND, "download link not found")
	}
	if d.now().Unix() > exp {
		return privacy.Errorf(privacy.EGONE, "download link expired")
	}
	return nil
}

func (d *Dir) sign(key, expires string) string {
	m := hmac.New(sha256.New, d.Secret)
	m.Write([]byte(key + "\x00" + expires))
	return hex.EncodeToString(m.Sum(nil))
}
