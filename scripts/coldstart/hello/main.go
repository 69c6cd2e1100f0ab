// Command hello is the cold-start baseline: the smallest Go HTTP server
// that can answer a Knative readiness probe. scripts/coldstart builds it
// in the same run as veil and times both from exec to /readyz.
package main

import (
	"errors"
	"net/http"
	"os"
)

func main() {
	addr := os.Getenv("VEIL_ADDR") // the same variable veil listens on
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ready\n")) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	if err := http.ListenAndServe(addr, mux); !errors.Is(err, http.ErrServerClosed) {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
