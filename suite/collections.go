package suite

import (
	"context"
	"io"

	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
)

// Collections builds the whole suite on a scratch SQLite directory and
// returns every collection it declared — shared, the brokers', every
// function's — for generating firestore.indexes.json.
func Collections(ctx context.Context, scratch string) ([]store.Collection, error) {
	cfg, err := config.Load(func(k string) string {
		if k == "VEIL_DATA" {
			return scratch
		}
		return ""
	})
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, cfg, WithLogOutput(io.Discard))
	if err != nil {
		return nil, err
	}
	defer s.Close(ctx)
	db, ok := s.Deps.DB.Backend.(*sqlite.DB)
	if !ok {
		return nil, nil
	}
	return db.Collections(), nil
}
