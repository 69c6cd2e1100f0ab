package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/veil-privacy/veil/privacy"
)

// Portability (R10): the bundle is POSTed to the endpoint the subject
// named. Veil makes that request from inside its network, so in production
// the endpoint must be public: plain http is refused, and so is any
// address that is not globally routable. The address is checked when the
// connection is made (net.Dialer.Control), after DNS resolution, so a name
// that resolves to a public address when checked and to 10.0.0.1 when
// dialled (DNS rebinding) is still refused. Redirects are not followed:
// a redirect would be a second, unchecked destination.

// errForbiddenAddress marks an endpoint that production refuses; retrying
// cannot change it, so the request goes to review at once.
var errForbiddenAddress = errors.New("export: the endpoint is not a public address")

// Delivery limits: dialling and the first byte are bounded, the body may
// take as long as a large bundle needs, up to the overall limit.
const (
	dialTimeout     = 10 * time.Second
	responseTimeout = 60 * time.Second
	deliverTimeout  = 10 * time.Minute
)

// newClient builds the client for third-party deliveries.
func newClient(production bool) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, Control: func(network, address string, _ syscall.RawConn) error {
		if !production {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !PublicAddr(ip) {
			return fmt.Errorf("%w: %s", errForbiddenAddress, host)
		}
		return nil
	}}
	return &http.Client{
		Timeout: deliverTimeout,
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would dial for us, past the check
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   dialTimeout,
			ResponseHeaderTimeout: responseTimeout,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// PublicAddr is privacy.PublicAddr (kept here for callers that know it
// by this name; new code should use the privacy package's).
func PublicAddr(ip netip.Addr) bool { return privacy.PublicAddr(ip) }

// CheckEndpoint validates a portability endpoint before anything is sent:
// an absolute URL without credentials, https (or, outside production, http).
func CheckEndpoint(raw string, production bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.Opaque != "":
		return nil, privacy.FieldError("deliver_to", "the endpoint is not an absolute URL without credentials")
	case u.Scheme == "https", u.Scheme == "http" && !production:
		return u, nil
	}
	return nil, privacy.FieldError("deliver_to", "the endpoint must use https")
}

// deliver POSTs size bytes of body to u. A 2xx answer is success;
// anything else is an error the broker retries.
func (x *exporter) deliver(ctx context.Context, u *url.URL, requestID string, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/zip")
	req.Header.Set("Content-Disposition", `attachment; filename="personal-information-`+requestID+`.zip"`)
	// The same request id on a retry lets the recipient keep one copy.
	req.Header.Set("Idempotency-Key", requestID)
	resp, err := x.client.Do(req)
	if err != nil {
		if errors.Is(err, errForbiddenAddress) {
			return errForbiddenAddress
		}
		// Without the URL: its path or query may carry the recipient's
		// token for the requester, and errors end up in logs and mails.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("export: endpoint %s unreachable: %w", u.Host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("export: endpoint %s answered %d", u.Host, resp.StatusCode)
	}
	return nil
}
