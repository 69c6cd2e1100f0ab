// Package ses is the production mail.Sender on Amazon SES v2. Messages are
// rendered by mail.Compose and sent as raw content, so production mail is
// byte for byte what `veil serve` writes to its outbox.
package ses

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/veil-privacy/veil/infra/mail"
	"github.com/veil-privacy/veil/privacy"
)

// Seen remembers which idempotency keys were sent. SES itself has no
// idempotency token, so without one a retried Send mails twice.
//
// This is a best-effort guard for retries that reach the Sender: the
// notify function keeps the authoritative per-key delivery record (and
// checks it before calling Send), so an implementation may be a small
// store collection or cache. Two concurrent Sends of one key can both see
// false; the record in notify is what serializes them.
type Seen interface {
	Seen(ctx context.Context, key string) (bool, error)
	Mark(ctx context.Context, key string) error
}

// Config selects the SES endpoint.
type Config struct {
	// Region is the SES region; empty takes the default chain's.
	Region string
	// Endpoint overrides the service address (a test server); empty
	// means AWS.
	Endpoint string
	// Location is declared for residency checks (R6): where message
	// content is processed. Empty means Region.
	Location string
	// Client, when set, is used as is and Region and Endpoint are
	// ignored; otherwise one is built from the default credentials chain.
	Client *sesv2.Client
	// Seen, if set, suppresses a second send of a key; nil sends every
	// call (notify's record is then the only guard).
	Seen Seen
	// ConfigurationSet is the SES configuration set to send with (bounce
	// and complaint events); empty uses the account default.
	ConfigurationSet string
}

// Sender is a mail.Sender on SES v2.
type Sender struct {
	c        *sesv2.Client
	seen     Seen
	location string
	confSet  string
}

// New builds a Sender. It makes no request: credentials and a verified
// sending identity are checked by the first Send.
func New(ctx context.Context, c Config) (*Sender, error) {
	loc := c.Location
	if loc == "" {
		loc = c.Region
	}
	if loc == "" {
		return nil, errors.New("ses: location (or region) is required (R6: every backend declares where data is processed)")
	}
	client := c.Client
	if client == nil {
		var opts []func(*config.LoadOptions) error
		if c.Region != "" {
			opts = append(opts, config.WithRegion(c.Region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("ses: load AWS config: %w", err)
		}
		client = sesv2.NewFromConfig(cfg, func(o *sesv2.Options) {
			if c.Endpoint != "" {
				o.BaseEndpoint = aws.String(c.Endpoint)
			}
		})
	}
	return &Sender{c: client, seen: c.Seen, location: loc, confSet: c.ConfigurationSet}, nil
}

// Location implements mail.Sender.
func (s *Sender) Location() string { return s.location }

// Send implements mail.Sender. The message is validated and rendered
// before anything is asked of Seen or SES, so a bad message fails the same
// way whether or not its key was seen.
func (s *Sender) Send(ctx context.Context, m *mail.Message) error {
	raw, err := mail.Compose(m, time.Now())
	if err != nil {
		return err
	}
	if s.seen != nil {
		done, err := s.seen.Seen(ctx, m.Key)
		if err != nil {
			return fmt.Errorf("ses: dedupe lookup: %w", err)
		}
		if done {
			return nil
		}
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		// The envelope recipients are exactly the checked To list, never
		// whatever else a raw message's headers might name.
		Destination: &types.Destination{ToAddresses: m.To},
		Content:     &types.EmailContent{Raw: &types.RawMessage{Data: raw}},
	}
	if s.confSet != "" {
		in.ConfigurationSetName = aws.String(s.confSet)
	}
	if _, err := s.c.SendEmail(ctx, in); err != nil {
		return mapErr(err)
	}
	if s.seen != nil {
		// The mail is gone; failing now would make the caller retry and
		// send it again. A lost mark costs at most that duplicate on a
		// later retry, which notify's own record prevents.
		_ = s.seen.Mark(ctx, m.Key)
	}
	return nil
}

// mapErr sorts SES failures into what the caller should do: fix the
// message (EINVALID), retry later (EUNAVAILABLE), or page someone (the
// rest: identity not verified, account suspended, configuration).
func mapErr(err error) error {
	var (
		rejected *types.MessageRejected
		bad      *types.BadRequestException
		throttle *types.TooManyRequestsException
		limit    *types.LimitExceededException
		paused   *types.SendingPausedException
		internal *types.InternalServiceErrorException
	)
	switch {
	case errors.As(err, &rejected), errors.As(err, &bad):
		return fmt.Errorf("%w: %w", privacy.Errorf(privacy.EINVALID, "mail service refused the message"), err)
	case errors.As(err, &throttle), errors.As(err, &limit), errors.As(err, &paused), errors.As(err, &internal):
		return fmt.Errorf("%w: %w", privacy.Errorf(privacy.EUNAVAILABLE, "mail service busy or paused, retry later"), err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusTooManyRequests || re.HTTPStatusCode() >= 500) {
		return fmt.Errorf("%w: %w", privacy.Errorf(privacy.EUNAVAILABLE, "mail service unavailable, retry later"), err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%w: %w", privacy.Errorf(privacy.EUNAVAILABLE, "mail service unreachable, retry later"), err)
	}
	return fmt.Errorf("ses: %w", err)
}
