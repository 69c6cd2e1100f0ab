// Command fakes3 serves an in-memory S3 (github.com/johannesboyne/gofakes3)
// on loopback, so the end-to-end tests can run `veil` with VEIL_BLOB=s3 the
// way production does. It is a test stand-in: no auth, no persistence.
//
//	go run ./scripts/fakes3 -addr 127.0.0.1:9000 -bucket veil-exports
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address (loopback only)")
	bucket := flag.String("bucket", "veil-exports", "bucket to create")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("fakes3: -addr must be a loopback host:port, not %q", *addr)
	}
	backend := s3mem.New()
	if err := backend.CreateBucket(*bucket); err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: gofakes3.New(backend).Server(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Printf("fakes3: serving bucket %s on http://%s", *bucket, *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
