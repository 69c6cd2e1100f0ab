package suite

import (
	"context"
	"time"

	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/firestore"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/s3"
	"github.com/veil-privacy/veil/infra/ses"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

func openFirestore(ctx context.Context, cfg *config.Config) (store.Backend, error) {
	db, err := firestore.Open(ctx, cfg.FirestoreProject, cfg.FirestoreDatabase, cfg.StoreLocation)
	if err != nil {
		return nil, &config.Error{Var: "VEIL_STORE", Msg: err.Error()}
	}
	return db, nil
}

func openS3(ctx context.Context, cfg *config.Config) (blob.Store, error) {
	st, err := s3.New(ctx, s3.Config{Bucket: cfg.S3Bucket, Region: cfg.S3Region, Endpoint: cfg.S3Endpoint,
		PathStyle: cfg.S3Endpoint != "", Location: cfg.BlobLocation})
	if err != nil {
		return nil, &config.Error{Var: "VEIL_BLOB", Msg: err.Error()}
	}
	return st, nil
}

// openSES builds the SES sender with a store-backed record of sent keys,
// so a redelivered notification is not mailed twice even across instances.
func (s *Suite) openSES(ctx context.Context, cfg *config.Config, b store.Backend) (mail.Sender, error) {
	if err := b.Ensure(ctx, sentCollection); err != nil {
		return nil, err
	}
	snd, err := ses.New(ctx, ses.Config{Region: cfg.SESRegion, Endpoint: cfg.SESEndpoint, Location: cfg.MailLocation,
		Seen: sentKeys{repo: store.Repo[sentKey]{B: b, C: sentCollection, ID: func(k *sentKey) string { return k.Key },
			Keys: func(k *sentKey) map[string]any { return map[string]any{"at": store.Unix(k.At)} }}}})
	if err != nil {
		return nil, &config.Error{Var: "VEIL_MAIL", Msg: err.Error()}
	}
	return snd, nil
}

var sentCollection = store.Collection{Name: "mail_sent", Keys: []store.Key{{Name: "at", Kind: store.Int}}}

type sentKey struct {
	Key string    `json:"key"`
	At  time.Time `json:"at"`
}

// sentKeys implements ses.Seen on the document store.
type sentKeys struct{ repo store.Repo[sentKey] }

func (k sentKeys) Seen(ctx context.Context, key string) (bool, error) {
	_, err := k.repo.Get(ctx, key)
	if privacy.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (k sentKeys) Mark(ctx context.Context, key string) error {
	return k.repo.Put(ctx, &sentKey{Key: key, At: time.Now()})
}
