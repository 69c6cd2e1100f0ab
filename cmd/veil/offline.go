package main

import (
	"context"
	"io"
	"time"

	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/suite"
)

// openOffline builds the suite's backends, configured by the same VEIL_*
// variables as `veil serve`, with only the named function and nothing
// started: for commands that work on the store with the service stopped.
func openOffline(ctx context.Context, env Env, function string) (*suite.Suite, func(), error) {
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return nil, nil, err
	}
	cfg.Functions = []string{function}
	s, err := suite.New(ctx, cfg, suite.WithLogOutput(io.Discard))
	if err != nil {
		return nil, nil, err
	}
	return s, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(cctx)
	}, nil
}
