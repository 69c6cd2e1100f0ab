// Package s3 is the production blob store (blob.Store) on Amazon S3 or an
// S3-compatible service: objects encrypted at rest (SSE-S3, AES256), links
// as presigned GETs that expire.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/privacy"
)

// Config selects the bucket and how to reach it.
type Config struct {
	Bucket string
	// Region is the bucket's region (e.g. "cn-north-1"); empty takes the
	// default chain's (AWS_REGION, shared config).
	Region string
	// Endpoint overrides the service address (an S3-compatible store, a
	// test server); empty means AWS.
	Endpoint string
	// PathStyle addresses the bucket in the path rather than the host name,
	// which most S3-compatible stores and test servers need.
	PathStyle bool
	// Location is declared for residency checks (R6); empty means Region.
	Location string
	// Client, when set, is used as is and Region, Endpoint and PathStyle
	// are ignored; otherwise one is built from the default credentials
	// chain (environment, shared files, web identity, instance role).
	Client *s3.Client
}

// partSize bounds the memory one Put holds: a blob larger than this goes
// up as a multipart upload of parts this big (S3's minimum part is 5 MiB,
// and 10,000 parts of 8 MiB allow bundles of 80 GB).
const partSize = 8 << 20

// maxTTL is the longest a SigV4 presigned URL may live.
const maxTTL = 7 * 24 * time.Hour

// Store is a blob.Store on one bucket.
type Store struct {
	c        *s3.Client
	presign  *s3.PresignClient
	bucket   string
	location string
}

// New builds a Store. It makes no request: a missing bucket or bad
// credentials show at the first Put, as the readiness check's concern.
func New(ctx context.Context, c Config) (*Store, error) {
	if c.Bucket == "" {
		return nil, errors.New("s3: bucket is required")
	}
	loc := c.Location
	if loc == "" {
		loc = c.Region
	}
	if loc == "" {
		return nil, errors.New("s3: location (or region) is required (R6: every backend declares where data lives)")
	}
	client := c.Client
	if client == nil {
		var opts []func(*config.LoadOptions) error
		if c.Region != "" {
			opts = append(opts, config.WithRegion(c.Region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("s3: load AWS config: %w", err)
		}
		client = s3.NewFromConfig(cfg, func(o *s3.Options) {
			if c.Endpoint != "" {
				o.BaseEndpoint = aws.String(c.Endpoint)
			}
			o.UsePathStyle = c.PathStyle
		})
	}
	return &Store{c: client, presign: s3.NewPresignClient(client), bucket: c.Bucket, location: loc}, nil
}

// Location implements blob.Store.
func (s *Store) Location() string { return s.location }

// Put implements blob.Store. The body is read a part at a time, so a
// stream of unknown length (a ZIP being written) needs neither a seekable
// reader nor the whole bundle in memory.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, contentType string) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, r, partSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("s3: read blob: %w", err)
	}
	if n < partSize {
		_, err := s.c.PutObject(ctx, &s3.PutObjectInput{
			Bucket:               aws.String(s.bucket),
			Key:                  aws.String(key),
			Body:                 bytes.NewReader(buf.Bytes()),
			ContentLength:        aws.Int64(n),
			ContentType:          aws.String(contentType),
			ServerSideEncryption: types.ServerSideEncryptionAes256,
		})
		return mapErr(err)
	}
	return s.multipart(ctx, key, &buf, r, contentType)
}

// multipart uploads first (one full part already read) and the rest of r.
func (s *Store) multipart(ctx context.Context, key string, first *bytes.Buffer, r io.Reader, contentType string) (err error) {
	up, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:               aws.String(s.bucket),
		Key:                  aws.String(key),
		ContentType:          aws.String(contentType),
		ServerSideEncryption: types.ServerSideEncryptionAes256,
		// Declared up front because the SDK checksums every part by
		// default, and S3 refuses to complete an upload whose parts carry
		// checksums of an algorithm the upload was not created with.
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return mapErr(err)
	}
	defer func() {
		if err != nil {
			// An abandoned upload keeps its parts (and the personal data in
			// them) billed and stored until aborted, so abort even when ctx
			// is what failed.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = s.c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: up.UploadId,
			})
		}
	}()
	var parts []types.CompletedPart
	buf := first
	for num := int32(1); ; num++ {
		out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(s.bucket),
			Key:               aws.String(key),
			UploadId:          up.UploadId,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(buf.Bytes()),
			ContentLength:     aws.Int64(int64(buf.Len())),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return mapErr(err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumCRC32: out.ChecksumCRC32})
		buf.Reset()
		n, err := io.CopyN(buf, r, partSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("s3: read blob: %w", err)
		}
		if n == 0 {
			break
		}
	}
	_, err = s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return mapErr(err)
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, mapErr(err)
	}
	return out.Body, nil
}

// Delete implements blob.Store; S3 answers success for an absent key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	return mapErr(err)
}

// URL implements blob.Store with a presigned GET. Signing is local (no
// request), and the link dies at ttl or when the signing credentials
// expire, whichever is first: with temporary credentials (an instance or
// web-identity role) that can be sooner than ttl.
func (s *Store) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := blob.CheckKey(key); err != nil {
		return "", err
	}
	if ttl < time.Second || ttl > maxTTL {
		return "", privacy.Errorf(privacy.EINVALID, "download link lifetime %s is outside 1s..%s", ttl, maxTTL)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3: presign: %w", err)
	}
	return req.URL, nil
}

// mapErr turns a missing object into ENOTFOUND and throttling or server
// trouble into EUNAVAILABLE (after the SDK's own retries); the rest pass
// through as internal errors, with the SDK error kept for the logs.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return privacy.Errorf(privacy.ENOTFOUND, "blob not found")
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusNotFound:
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket" {
				break
			}
			return privacy.Errorf(privacy.ENOTFOUND, "blob not found")
		case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code >= 500:
			return fmt.Errorf("%w: %w", privacy.Errorf(privacy.EUNAVAILABLE, "blob store unavailable, retry later"), err)
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%w: %w", privacy.Errorf(privacy.EUNAVAILABLE, "blob store unreachable, retry later"), err)
	}
	return fmt.Errorf("s3: %w", err)
}
