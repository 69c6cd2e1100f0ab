package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/veil-privacy/veil/functions/erasure"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/suite"
)

// ledgerCmd runs `veil ledger replay` and `veil ledger export`. Both open
// the store directly with the same VEIL_* variables as `veil serve`; run
// replay right after restoring a backup, before the service takes traffic.
func ledgerCmd(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "usage: veil ledger replay [--file FILE] [--json] | veil ledger export [--out FILE]")
		return errors.New("ledger: which subcommand?")
	}
	switch args[0] {
	case "replay":
		return ledgerReplay(ctx, env, args[1:])
	case "export":
		return ledgerExport(ctx, env, args[1:])
	}
	return fmt.Errorf("ledger: unknown subcommand %q (replay, export)", args[0])
}

// openErasure opens the store with only the erasure function (events a
// replay publishes wait in the queue for the next `veil serve`).
func openErasure(ctx context.Context, env Env) (*suite.Suite, func(), error) {
	return openOffline(ctx, env, erasure.Name)
}

func ledgerReplay(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("ledger replay", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	file := fs.String("file", "", "also replay the entries of this ledger file (e.g. one `veil ledger export` wrote before the restore)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var extra []*erasure.LedgerEntry
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return fmt.Errorf("ledger replay: %w", err)
		}
		es, bad, err := erasure.ReadLedger(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("ledger replay: %s: %w", *file, err)
		}
		if bad > 0 {
			fmt.Fprintf(env.Stderr, "ledger replay: %d unreadable lines in %s skipped\n", bad, *file)
		}
		extra = es
	}
	s, closeFn, err := openErasure(ctx, env)
	if err != nil {
		return err
	}
	defer closeFn()
	rep, err := erasure.Replay(ctx, s.Deps, extra)
	if err != nil {
		return fmt.Errorf("ledger replay: %w", err)
	}
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(rep)
	}
	fmt.Fprintf(env.Stdout, "ledger replayed: %d entries (%d from the file, %d from the store; %d restored to the store, %d to the file)\n",
		rep.Entries, rep.FromFile, rep.FromStore, rep.RestoredStore, rep.RestoredToFile)
	fmt.Fprintf(env.Stdout, "deleted again: %d ad records, %d other documents; %d redacted; %d data keys destroyed\n",
		rep.Records, rep.Documents, rep.Redacted, rep.KeysShredded)
	if len(rep.Held) > 0 {
		fmt.Fprintf(env.Stdout, "kept under legal hold: %d subjects\n", len(rep.Held))
	}
	if rep.BadLines > 0 {
		fmt.Fprintf(env.Stdout, "skipped %d unreadable ledger lines\n", rep.BadLines)
	}
	return nil
}

// ledgerExport writes the store's ledger as JSON lines, for keeping beside
// each backup of a store whose restore would roll the collection back.
func ledgerExport(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("ledger export", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	out := fs.String("out", "", "write to FILE (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, closeFn, err := openErasure(ctx, env)
	if err != nil {
		return err
	}
	defer closeFn()
	w := env.Stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("ledger export: %w", err)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	repo := store.Repo[erasure.LedgerEntry]{B: s.Deps.DB.Backend, C: erasure.LedgerCollection, ID: func(e *erasure.LedgerEntry) string { return e.ID }}
	n := 0
	err = repo.Each(ctx, store.Query{Limit: store.MaxLimit}, func(e *erasure.LedgerEntry) error {
		n++
		return enc.Encode(e)
	})
	if err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && *out != "" {
		if err := f.Sync(); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "exported %d ledger entries to %s\n", n, *out)
	}
	return nil
}
