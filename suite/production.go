package suite

import (
	"context"

	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/store"
)

// The production backends are wired here once infra/firestore, infra/s3
// and infra/ses land; until then selecting them is a configuration error.
func openFirestore(ctx context.Context, cfg *config.Config) (store.Backend, error) {
	return nil, &config.Error{Var: "VEIL_STORE", Msg: "firestore backend not available in this build"}
}

func openS3(ctx context.Context, cfg *config.Config) (blob.Store, error) {
	return nil, &config.Error{Var: "VEIL_BLOB", Msg: "s3 backend not available in this build"}
}

func openSES(ctx context.Context, cfg *config.Config) (mail.Sender, error) {
	return nil, &config.Error{Var: "VEIL_MAIL", Msg: "ses backend not available in this build"}
}
