// Package knative generates and checks Veil's Knative manifests.
//
// The per-function part of the kustomize base (one Knative Service per
// registered function, one Trigger per event type it consumes) is generated
// from the code by building the suite with every function enabled, so the
// manifests cannot drift from what the functions actually consume. The rest
// of the base (broker, dead-letter sink, schedules, sink binding) is
// generated from the tables in this package; the overlays and the Kafka
// component are written by hand.
//
// A small renderer implements the part of kustomize the layout uses, so
// `scripts/deploy.sh --dry-run` needs only Go; the tests check it against
// `kubectl kustomize` where kubectl is installed, and refuse kustomization
// fields the renderer does not implement.
//
// After adding a function to suite/registry.go (or changing the event types
// a function consumes), regenerate with:
//
//	go generate ./infra/knative
package knative

//go:generate go run ./gen
