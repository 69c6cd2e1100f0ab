// Command gen regenerates infra/knative/base from the functions registered
// in suite.Registry(). Run it (or `go generate ./infra/knative`) after
// adding a function or changing the event types one consumes.
//
//	go run ./infra/knative/gen          # write
//	go run ./infra/knative/gen -check   # exit 1 if base/ is out of date
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/veil-privacy/veil/infra/knative"
)

func main() {
	check := flag.Bool("check", false, "report drift and exit 1 instead of writing")
	flag.Parse()
	if err := run(*check); err != nil {
		fmt.Fprintln(os.Stderr, "knative/gen:", err)
		os.Exit(1)
	}
}

func run(check bool) error {
	dir, err := knative.Dir()
	if err != nil {
		return err
	}
	fns, err := knative.Inventory(context.Background())
	if err != nil {
		return err
	}
	files, err := knative.Generate(fns)
	if err != nil {
		return err
	}
	if check {
		d, err := knative.Compare(dir, files)
		if err != nil {
			return err
		}
		if !d.Empty() {
			return fmt.Errorf("infra/knative/base is out of date; run `go generate ./infra/knative`:\n%s", d)
		}
		return nil
	}
	d, err := knative.Write(dir, files)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "knative/gen: %d functions; %d files written, %d removed\n", len(fns), len(d.Missing)+len(d.Changed), len(d.Stale))
	return nil
}
