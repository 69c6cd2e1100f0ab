// Command veil runs the Veil suite and operates it.
//
//	veil serve            run every function on the embedded defaults
//	veil version          print the version
//
// Ops commands talk to a running suite with the ops token; see `veil help`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand. run gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

// Env is the process's world, passed in so commands can be tested.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string
}

func commands() map[string]command {
	return map[string]command{
		"serve":      {"run the whole suite on the embedded defaults (VEIL_* variables configure it)", serve},
		"audit":      {"verify the audit hash chain (audit verify) or export evidence (audit export --from --to --out)", auditCmd},
		"ledger":     {"re-apply the erasure ledger after restoring a backup (ledger replay), or export it (ledger export)", ledgerCmd},
		"processing": {"print the records of processing (R25) as Markdown, or --json", processingCmd},
		"version":    {"print the version", version},

		// Ops commands against a running suite (ops*.go).
		"apps":         {"register, revoke and list apps (ops API)", appsCmd()},
		"requests":     {"list, show, approve, refuse and answer rights requests (ops API)", requestsCmd()},
		"incidents":    {"declare an incident from YAML, watch its notices go out, list, report (ops API)", incidentsCmd()},
		"policies":     {"publish a policy revision, list versions, watch acknowledgements (ops API)", policiesCmd()},
		"holds":        {"place, lift and list legal holds (ops API)", holdsCmd()},
		"cease":        {"cease operations (R23; --yes), or cease status (ops API)", ceaseCmd},
		"dead-letters": {"list and redrive dead-lettered events (ops API)", deadLettersCmd()},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Getenv: os.Getenv}, os.Args[1:]))
}

func run(ctx context.Context, env Env, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "veil: unknown command %q\n\n", args[0])
		usage(env.Stderr, cmds)
		return 2
	}
	if err := c.run(ctx, env, args[1:]); err != nil {
		fmt.Fprintln(env.Stderr, "veil:", err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: veil <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
}
