// Package blob stores export bundles: on a directory for `veil serve`
// (Dir) and in Amazon S3 in production (infra/s3). Keys are validated here,
// once, so no backend can be walked out of its root.
package blob

import (
	"context"
	"io"
	"regexp"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

// Store keeps blobs.
type Store interface {
	// Location is where the blobs physically live (R6).
	Location() string
	Put(ctx context.Context, key string, r io.Reader, contentType string) error
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
	// URL returns an unguessable link that stops working after ttl.
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}(/[a-z0-9][a-z0-9._-]{0,127}){0,3}$`)

// CheckKey refuses keys that could escape a directory or confuse a URL:
// lower-case segments of letters, digits, dot, dash and underscore, none
// starting with a dot.
func CheckKey(key string) error {
	if !keyPattern.MatchString(key) {
		return privacy.Errorf(privacy.EINVALID, "bad blob key %q", key)
	}
	return nil
}
