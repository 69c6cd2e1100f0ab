package retention

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/privacy"
)

// ResidencyAlert is the log message operators alert on (R6). It is stable:
// dashboards and alert rules match it exactly.
const ResidencyAlert = "residency violation"

// CheckResidency is privacy.CheckResidency with the alerting a refused
// write needs: when personal data of region would be written to location
// (backend names the store, blob or mail backend; what names the kind of
// data) without cross-border consent, it logs an error line with the
// message "residency violation", publishes com.veil.residency.violated.v1,
// and returns the ERESIDENCY error so the caller fails closed. Ingest calls
// it before every write of a record:
//
//	if err := retention.CheckResidency(ctx, d.Bus, d.Log, "store", d.DB.Backend.Location(), rec.Region, crossBorder, "ad record"); err != nil { … }
func CheckResidency(ctx context.Context, bus events.Publisher, log zerolog.Logger, backend, location, region string, crossBorderConsent bool, what string) error {
	err := privacy.CheckResidency(region, location, crossBorderConsent)
	if err == nil {
		return nil
	}
	ReportResidencyViolation(ctx, bus, log, events.ResidencyData{Backend: backend, Location: location, Region: region, What: what})
	return err
}

// ReportResidencyViolation raises the alert for a write already refused.
// A failure to publish is logged too; the write stays refused either way.
func ReportResidencyViolation(ctx context.Context, bus events.Publisher, log zerolog.Logger, v events.ResidencyData) {
	l := log
	if cl := zerolog.Ctx(ctx); cl.GetLevel() != zerolog.Disabled {
		l = *cl
	}
	l.Error().Str("alert", "residency").Str("backend", v.Backend).Str("location", v.Location).
		Str("region", v.Region).Str("what", v.What).Msg(ResidencyAlert)
	if bus == nil {
		return
	}
	if err := bus.Publish(ctx, events.Must(events.ResidencyViolated, "", v)); err != nil {
		l.Error().Err(err).Str("alert", "residency").Msg("residency violation event not published")
	}
}
