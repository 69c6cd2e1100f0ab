package knative

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/suite"
)

// Function is what the manifests need to know about one registered
// function: its name (the Knative Service name and VEIL_FUNCTIONS value),
// the event types it consumes (one Trigger each) and its HTTP routes
// (whether it is reachable from outside the cluster).
type Function struct {
	Name     string
	Consumes []string
	Routes   []string
}

// Public reports whether the function serves HTTP routes of its own; a
// function without routes only receives events and stays cluster-local.
func (f Function) Public() bool { return len(f.Routes) > 0 }

// Inventory builds the suite with every registered function enabled, on an
// embedded store in a temporary directory, and reports what each function
// consumes and serves. Building the real suite (rather than reading a
// hand-kept list) is what keeps the manifests from drifting from the code.
func Inventory(ctx context.Context) ([]Function, error) {
	dir, err := os.MkdirTemp("", "veil-knative-inventory-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	env := map[string]string{"VEIL_DATA": dir, "VEIL_LOG_LEVEL": "error", "VEIL_BROKER": "inprocess"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	s, err := suite.New(ctx, cfg, suite.WithLogOutput(io.Discard))
	if err != nil {
		return nil, fmt.Errorf("inventory: building the suite: %w", err)
	}
	defer s.Close(ctx)
	out := make([]Function, 0, len(s.Functions))
	for _, f := range s.Functions {
		fn := Function{Name: f.Name}
		for t := range f.Events {
			fn.Consumes = append(fn.Consumes, t)
		}
		for r := range f.Routes {
			fn.Routes = append(fn.Routes, r)
		}
		sort.Strings(fn.Consumes)
		sort.Strings(fn.Routes)
		out = append(out, fn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
