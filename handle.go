// Package function is Veil as the func CLI builds it: one image whose
// Handle serves the functions VEIL_FUNCTIONS selects (all by default), on
// Knative as one Service per function. CloudEvents (binary or structured
// mode) are dispatched by type, plain HTTP by path; see suite.
package function

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
)

// The func CLI's static HTTP scaffold calls a package-level Handle and
// offers no constructor, so the suite is built on the first request and
// kept for the life of the process. This is the one package-level state in
// Veil, and only this file touches it.
var (
	once    sync.Once
	running *suite.Suite
	initErr error
)

// Handle serves one HTTP request or CloudEvent.
func Handle(w http.ResponseWriter, r *http.Request) {
	once.Do(func() {
		cfg, err := config.Load(os.Getenv)
		if err != nil {
			initErr = err
			fmt.Fprintln(os.Stderr, "veil:", err)
			return
		}
		running, initErr = suite.New(context.Background(), cfg)
		if initErr == nil {
			running.Start(context.Background(), nil)
		} else {
			fmt.Fprintln(os.Stderr, "veil:", initErr)
		}
	})
	if initErr != nil {
		httpx.Error(w, r, privacy.Errorf(privacy.EUNAVAILABLE, "veil is misconfigured; see the logs"))
		return
	}
	running.Handler().ServeHTTP(w, r)
}
