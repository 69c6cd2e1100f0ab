package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Outbox "sends" mail by writing one .eml file per message into a
// directory: `$VEIL_DATA/outbox` under `veil serve`. A file's name ends in
// the hash of the idempotency key, which is how a second send of the same
// key is recognised and skipped, even across restarts.
type Outbox struct {
	Dir string
	Loc string
	Now func() time.Time
}

// Location implements Sender.
func (o *Outbox) Location() string { return o.Loc }

// Send implements Sender.
func (o *Outbox) Send(ctx context.Context, m *Message) error {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	raw, err := Compose(m, now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(m.Key))
	tag := hex.EncodeToString(sum[:12])
	if dup, _ := filepath.Glob(filepath.Join(o.Dir, "*-"+tag+".eml")); len(dup) > 0 {
		return nil
	}
	name := fmt.Sprintf("%d-%s.eml", now().UnixNano(), tag)
	tmp, err := os.CreateTemp(o.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	// fsync before rename: a crash must leave either no file or the whole
	// message, never half of one that blocks a resend.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(o.Dir, name))
}
