package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/veil-privacy/veil/functions/audit"
)

// auditCmd runs `veil audit verify` and `veil audit export`. Both read the
// store directly, configured by the same VEIL_* variables as `veil serve`
// (for the embedded store: VEIL_DATA), so they work with the service
// stopped — and against a copy of the data a regulator was given.
func auditCmd(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "usage: veil audit verify | veil audit export [--from T] [--to T] [--out FILE]")
		return errors.New("audit: which subcommand?")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, env, args[1:])
	case "export":
		return auditExport(ctx, env, args[1:])
	}
	return fmt.Errorf("audit: unknown subcommand %q (verify, export)", args[0])
}

// openAudit builds the backends through the suite (only the audit
// function enabled, nothing started) and opens the log on its store.
func openAudit(ctx context.Context, env Env) (*audit.Log, func(), error) {
	s, closeFn, err := openOffline(ctx, env, audit.Name)
	if err != nil {
		return nil, nil, err
	}
	l, err := audit.Open(ctx, s.Deps.DB.Backend)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return l, closeFn, nil
}

func auditVerify(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	asJSON := fs.Bool("json", false, "print the verification as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, closeFn, err := openAudit(ctx, env)
	if err != nil {
		return err
	}
	defer closeFn()
	v, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		json.NewEncoder(env.Stdout).Encode(v)
	}
	if !v.OK {
		return fmt.Errorf("audit chain BROKEN at entry %d (id %s): %s", v.Broken.Seq, v.Broken.ID, v.Broken.Reason)
	}
	if !*asJSON {
		fmt.Fprintf(env.Stdout, "audit chain OK: %d entries (from %d to %d), head %s\n", v.Entries, v.BaseSeq+1, v.HeadSeq, v.HeadHash)
	}
	return nil
}

func auditExport(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	from := fs.String("from", "", "first moment included: RFC 3339 or YYYY-MM-DD (default: the beginning)")
	to := fs.String("to", "", "first moment excluded: RFC 3339 or YYYY-MM-DD (default: now)")
	out := fs.String("out", "", "write the entries to FILE and the manifest to FILE.manifest.json (default: stdout, manifest as the last line)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	f, t, err := audit.ParseRange(*from, *to, now)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	l, closeFn, err := openAudit(ctx, env)
	if err != nil {
		return err
	}
	defer closeFn()
	w := env.Stdout
	var file *os.File
	if *out != "" {
		if file, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		defer file.Close()
		w = file
	}
	m, err := l.Export(ctx, f, t, now, w)
	if err != nil {
		return err
	}
	if file == nil {
		return json.NewEncoder(w).Encode(map[string]any{"manifest": m})
	}
	if err := file.Sync(); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(*out+".manifest.json", append(raw, '\n'), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "exported %d entries to %s; manifest %s.manifest.json (head %d %s)\n", m.Count, *out, *out, m.Head.Seq, m.Head.Hash)
	if !m.Verification.OK {
		return fmt.Errorf("exported, but the chain is BROKEN at entry %d (id %s): %s", m.Verification.Broken.Seq, m.Verification.Broken.ID, m.Verification.Broken.Reason)
	}
	return nil
}
