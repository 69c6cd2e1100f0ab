package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/suite"
)

func serve(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	retention := fs.Duration("retention-every", time.Hour, "how often the retention sweep runs (PingSource on Knative)")
	deadlines := fs.Duration("deadlines-every", 15*time.Minute, "how often deadlines are checked (PingSource on Knative)")
	drain := fs.Duration("drain", 30*time.Second, "how long shutdown waits for in-flight requests and events")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	s, err := suite.New(ctx, cfg, suite.WithLogOutput(env.Stdout))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.Close(context.Background())
		return &config.Error{Var: "VEIL_ADDR", Msg: err.Error()}
	}
	s.Start(ctx, map[string]time.Duration{"retention": *retention, "deadlines": *deadlines})
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	s.Deps.Log.Info().Str("addr", ln.Addr().String()).Str("data", cfg.Data).Strs("functions", enabled(s)).Str("version", suite.Version).Msg("veil serving")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close(context.Background())
		return err
	case <-ctx.Done():
	}
	s.Deps.Log.Info().Msg("shutting down: draining requests and events")
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	err = srv.Shutdown(sctx)
	if cerr := s.Close(sctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	s.Deps.Log.Info().Msg("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func enabled(s *suite.Suite) []string {
	out := []string{}
	for _, f := range s.Functions {
		out = append(out, f.Name)
	}
	return out
}

func version(ctx context.Context, env Env, args []string) error {
	_, err := fmt.Fprintln(env.Stdout, "veil", suite.Version)
	return err
}
