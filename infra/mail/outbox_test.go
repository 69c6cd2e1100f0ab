package mail_test

import (
	"testing"

	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/infra/mailtest"
)

func TestOutboxConformance(t *testing.T) {
	mailtest.Run(t, func(t *testing.T) (mail.Sender, func() []mailtest.Sent) {
		dir := t.TempDir()
		sent := func() []mailtest.Sent {
			got, err := mailtest.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		return &mail.Outbox{Dir: dir, Loc: "local:cn"}, sent
	})
}
