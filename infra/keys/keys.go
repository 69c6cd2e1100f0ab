// Package keys is Veil's key ring (R5, R12): a keyed hash for looking
// subjects up without storing their identifiers, per-partner pseudonyms
// (R7), and one data key per subject, sealed by the master key, that
// encrypts the subject's raw identifiers. Destroying a subject's data key
// makes every copy of their encrypted data unreadable at once, backups
// included (crypto-shredding) — which is why the ring lives in its own
// backend, never in the document store's backups.
package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

var collection = store.Collection{Name: "datakeys", Keys: []store.Key{{Name: "created", Kind: store.Int}}}

type dataKey struct {
	Subject string    `json:"subject"`
	Sealed  []byte    `json:"sealed"` // the key, encrypted under the master key
	Created time.Time `json:"created"`
}

// Ring is the key ring.
type Ring struct {
	master cipher.AEAD
	lookup []byte
	repo   store.Repo[dataKey]
}

// New builds a ring whose data keys are kept in b, sealed by master
// (32 bytes).
func New(ctx context.Context, b store.Backend, master []byte) (*Ring, error) {
	if len(master) != 32 {
		return nil, errors.New("keys: master key must be 32 bytes")
	}
	aead, err := newAEAD(derive(master, "veil/seal/v1"))
	if err != nil {
		return nil, err
	}
	if err := b.Ensure(ctx, collection); err != nil {
		return nil, err
	}
	return &Ring{master: aead, lookup: derive(master, "veil/lookup/v1"),
		repo: store.Repo[dataKey]{B: b, C: collection, ID: func(k *dataKey) string { return k.Subject },
			Keys: func(k *dataKey) map[string]any { return map[string]any{"created": store.Unix(k.Created)} }}}, nil
}

// derive gives independent keys for independent uses of the master key.
func derive(master []byte, label string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(label))
	return m.Sum(nil)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Hash is the keyed lookup hash of an identifier (a subject string, a
// device id): stable, so records can be found by it, but useless to anyone
// without the master key.
func (k *Ring) Hash(s string) string {
	m := hmac.New(sha256.New, k.lookup)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// SubjectKey is the key under which a subject's data is filed.
func (k *Ring) SubjectKey(s privacy.Subject) string { return k.Hash(s.String()) }

// Pseudonym is a per-recipient keyed pseudonym (R7): the same device gets
// unrelated values at two partners, so they cannot join their feeds.
func (k *Ring) Pseudonym(recipient, s string) string {
	m := hmac.New(sha256.New, derive(k.lookup, "partner/"+recipient))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// Seal encrypts plaintext under the subject's data key, creating the key on
// first use. The subject's additional data binds a ciphertext to its owner.
func (k *Ring) Seal(ctx context.Context, subjectKey string, plaintext []byte) ([]byte, error) {
	aead, err := k.dataKey(ctx, subjectKey, true)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, []byte(subjectKey)), nil
}

// ErrShredded is returned by Open when the subject's key was destroyed.
var ErrShredded = privacy.Errorf(privacy.EGONE, "the subject's data key was destroyed; the data is unreadable")

// Open decrypts what Seal produced.
func (k *Ring) Open(ctx context.Context, subjectKey string, ciphertext []byte) ([]byte, error) {
	aead, err := k.dataKey(ctx, subjectKey, false)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) < aead.NonceSize() {
		return nil, errors.New("keys: ciphertext too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(subjectKey))
}

// Destroy deletes the subject's data key. It cannot be undone.
func (k *Ring) Destroy(ctx context.Context, subjectKey string) error {
	return k.repo.Delete(ctx, subjectKey)
}

// Has reports whether the subject still has a data key.
func (k *Ring) Has(ctx context.Context, subjectKey string) (bool, error) {
	_, err := k.repo.Get(ctx, subjectKey)
	if privacy.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (k *Ring) dataKey(ctx context.Context, subjectKey string, create bool) (cipher.AEAD, error) {
	dk, err := k.repo.Get(ctx, subjectKey)
	if privacy.IsNotFound(err) {
		if !create {
			return nil, ErrShredded
		}
		dk, err = k.create(ctx, subjectKey)
	}
	if err != nil {
		return nil, err
	}
	raw, err := k.master.Open(nil, dk.Sealed[:k.master.NonceSize()], dk.Sealed[k.master.NonceSize():], []byte(subjectKey))
	if err != nil {
		return nil, fmt.Errorf("keys: data key of %s does not open under this master key", subjectKey)
	}
	return newAEAD(raw)
}

func (k *Ring) create(ctx context.Context, subjectKey string) (*dataKey, error) {
	raw := make([]byte, 32)
	nonce := make([]byte, k.master.NonceSize())
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	dk := &dataKey{Subject: subjectKey, Sealed: k.master.Seal(nonce, nonce, raw, []byte(subjectKey)), Created: time.Now()}
	err := k.repo.Create(ctx, dk)
	if privacy.ErrorCode(err) == privacy.ECONFLICT {
		// Another request created it first: use theirs, so there is
		// only ever one key per subject.
		return k.repo.Get(ctx, subjectKey)
	}
	return dk, err
}
