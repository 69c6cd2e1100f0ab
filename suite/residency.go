package suite

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/privacy"
)

// checkResidency is the start-up half of R6: data collected in mainland
// China is stored there, so every backend that holds personal data must
// declare a mainland location unless cross-border transfer was decided on
// purpose (VEIL_ALLOW_CROSS_BORDER=true; each write of CN data abroad
// still needs the subject's recorded consent, checked at write time). A
// configuration that would route CN data abroad is refused before any
// backend is opened, naming the variable to fix.
func checkResidency(cfg config.Config, log zerolog.Logger) error {
	locations := []struct{ variable, location string }{
		{"VEIL_STORE_LOCATION", cfg.StoreLocation},
		{"VEIL_BLOB_LOCATION", cfg.BlobLocation},
		{"VEIL_MAIL_LOCATION", cfg.MailLocation},
	}
	var errs []error
	for _, l := range locations {
		if privacy.InMainland(l.location) {
			continue
		}
		if cfg.AllowCrossBorder {
			log.Warn().Str("variable", l.variable).Str("location", l.location).
				Msg("backend outside mainland China allowed by VEIL_ALLOW_CROSS_BORDER; CN data is written there only with cross-border consent")
			continue
		}
		errs = append(errs, &config.Error{Var: l.variable, Msg: fmt.Sprintf(
			"%q is not in mainland China; personal data collected there must stay there (R6). Use a cn-* location, or set VEIL_ALLOW_CROSS_BORDER=true if transfers abroad are intended and consented to", l.location)})
	}
	return errors.Join(errs...)
}
