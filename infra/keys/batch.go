package keys

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// Batch holds one subject's data key for many Seal/Open calls. Exporting
// or re-sealing 100,000 records must not read and unseal the same key
// 100,000 times (each read is a store round trip). A Batch is for one
// job: it must not outlive it, or a Destroy would not take effect on it.
type Batch struct {
	subject string
	aead    cipher.AEAD
}

// Batch loads subjectKey's data key once. create says whether a missing
// key is created (sealing) or reported as ErrShredded (opening).
func (k *Ring) Batch(ctx context.Context, subjectKey string, create bool) (*Batch, error) {
	aead, err := k.dataKey(ctx, subjectKey, create)
	if err != nil {
		return nil, err
	}
	return &Batch{subject: subjectKey, aead: aead}, nil
}

// Open decrypts what Seal (of the Ring or a Batch) produced for the subject.
func (b *Batch) Open(ciphertext []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(ciphertext) < n {
		return nil, errors.New("keys: ciphertext too short")
	}
	return b.aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(b.subject))
}

// Seal encrypts plaintext under the subject's data key.
func (b *Batch) Seal(plaintext []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	nonce := make([]byte, n, n+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return b.aead.Seal(nonce, nonce, plaintext, []byte(b.subject)), nil
}
