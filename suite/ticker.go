package suite

import (
	"context"
	"regexp"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/events"
)

var jobName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ticker stands in for Knative PingSources under `veil serve`: it publishes
// a schedule event for each job at its interval.
type ticker struct{ wg sync.WaitGroup }

func startTicker(ctx context.Context, bus events.Publisher, log zerolog.Logger, jobs map[string]time.Duration) *ticker {
	t := &ticker{}
	for job, every := range jobs {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			tk := time.NewTicker(every)
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
					if err := bus.Publish(ctx, events.Must(events.ScheduleTicked, "", events.ScheduleTickedData{Job: job})); err != nil {
						log.Error().Err(err).Str("job", job).Msg("schedule tick not published")
					}
				}
			}
		}()
	}
	return t
}

func (t *ticker) wait() { t.wg.Wait() }
