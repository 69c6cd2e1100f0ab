package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"time"

	"github.com/veil-privacy/veil/functions"
	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/privacy"
	"github.com/veil-privacy/veil/suite"
)

// processingCmd prints the records of processing (R25): every activity
// every registered function declares, as Markdown (docs/processing.md is
// this output) or as JSON with --json. It needs no running suite and no
// configuration: the register describes the code, not one installation.
func processingCmd(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("processing", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of Markdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reg, _, regErr := buildRegister(ctx)
	if reg.Entries == nil && regErr != nil {
		return regErr
	}
	// An invalid declaration still prints, so the reader sees what is
	// wrong in context; the exit status says it is wrong.
	out := reg.Markdown()
	if *asJSON {
		var err error
		if out, err = reg.JSON(); err != nil {
			return err
		}
	}
	if _, err := env.Stdout.Write(out); err != nil {
		return err
	}
	return regErr
}

// buildRegister builds every registered function the way `veil serve`
// does, on a throwaway embedded store with a fixed configuration (so the
// register never depends on the caller's environment), starts nothing,
// and reads their declarations.
func buildRegister(ctx context.Context) (privacy.Register, []*functions.Function, error) {
	dir, err := os.MkdirTemp("", "veil-processing-")
	if err != nil {
		return privacy.Register{}, nil, err
	}
	defer os.RemoveAll(dir)
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	vars := map[string]string{"VEIL_DATA": dir, "VEIL_OPS_TOKEN": hex.EncodeToString(token), "VEIL_LOG_LEVEL": "error"}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		return privacy.Register{}, nil, err
	}
	s, err := suite.New(ctx, cfg, suite.WithLogOutput(io.Discard))
	if err != nil {
		return privacy.Register{}, nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(cctx)
	}()
	decl := map[string][]privacy.Activity{}
	for _, f := range s.Functions {
		decl[f.Name] = f.Processing
	}
	reg, err := privacy.NewRegister(decl)
	return reg, s.Functions, err
}
