package suite

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/infra/blob"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/keys"
	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/infra/store"
)

// openBackends opens the document store, key ring, blob store and mail
// sender the configuration selects, and fills in generated secrets for an
// embedded install. It returns the document store.
func (s *Suite) openBackends(ctx context.Context, cfg *config.Config, log zerolog.Logger) (store.Backend, error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, &config.Error{Var: "VEIL_DATA", Msg: fmt.Sprintf("cannot create %s: %v", cfg.Data, err)}
	}
	if err := s.secrets(cfg, log); err != nil {
		return nil, err
	}
	var b, kb store.Backend
	switch cfg.Store {
	case "sqlite":
		db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "veil.db"), cfg.StoreLocation)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, db.Close)
		// The key ring is a separate file so that copies of veil.db
		// (backups) never hold the keys that decrypt them.
		kdb, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "keyring.db"), cfg.StoreLocation)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, kdb.Close)
		b, kb = db, kdb
	default:
		fb, err := openFirestore(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, fb.Close)
		b, kb = fb, fb
	}
	ring, err := keys.New(ctx, kb, cfg.MasterKey)
	if err != nil {
		return nil, err
	}
	s.Deps.Keys = ring

	switch cfg.Blob {
	case "dir":
		s.Deps.Blobs = &blob.Dir{Root: filepath.Join(cfg.Data, "blobs"), BaseURL: cfg.PublicURL,
			Secret: derive(cfg.MasterKey, "blob-links"), Loc: cfg.BlobLocation}
	default:
		if s.Deps.Blobs, err = openS3(ctx, cfg); err != nil {
			return nil, err
		}
	}
	switch cfg.Mail {
	case "outbox":
		s.Deps.Mail = &mail.Outbox{Dir: filepath.Join(cfg.Data, "outbox"), Loc: cfg.MailLocation}
	default:
		if s.Deps.Mail, err = s.openSES(ctx, cfg, b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// secrets fills in the ops token and master key from files under the data
// directory, generating them on first start, so `veil serve` needs no
// set-up and keeps its keys across restarts. Production sets both
// variables from Kubernetes secrets instead. Values are never logged.
func (s *Suite) secrets(cfg *config.Config, log zerolog.Logger) error {
	if cfg.OpsToken == "" {
		tok, err := secretFile(filepath.Join(cfg.Data, "ops-token"), func(b []byte) string { return hex.EncodeToString(b) })
		if err != nil {
			return &config.Error{Var: "VEIL_OPS_TOKEN", Msg: err.Error()}
		}
		cfg.OpsToken = tok
		log.Info().Str("file", filepath.Join(cfg.Data, "ops-token")).Msg("ops token read from file (set VEIL_OPS_TOKEN to choose one)")
	}
	if len(cfg.MasterKey) == 0 {
		k, err := secretFile(filepath.Join(cfg.Data, "master.key"), func(b []byte) string { return base64.StdEncoding.EncodeToString(b) })
		if err != nil {
			return &config.Error{Var: "VEIL_MASTER_KEY", Msg: err.Error()}
		}
		cfg.MasterKey, _ = base64.StdEncoding.DecodeString(k)
		if len(cfg.MasterKey) != 32 {
			return &config.Error{Var: "VEIL_MASTER_KEY", Msg: "master.key under VEIL_DATA is damaged"}
		}
	}
	return nil
}

// secretFile reads a secret, or creates it (mode 0600) from 32 random bytes.
func secretFile(path string, encode func([]byte) string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	v := encode(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteString(v + "\n"); err != nil {
		return "", err
	}
	return v, f.Sync()
}
