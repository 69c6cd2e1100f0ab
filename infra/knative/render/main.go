// Command render prints a kustomize overlay of infra/knative rendered the
// way `kubectl kustomize` would, with Veil's image digest substituted. It
// is what scripts/deploy.sh applies and what its --dry-run prints, and it
// needs only Go.
//
//	go run ./infra/knative/render -overlay production-cn -image registry/veil@sha256:…
//	go run ./infra/knative/render -overlay dev -kinds Namespace,ConfigMap,ServiceAccount
//	go run ./infra/knative/render -overlay dev -print namespace
//	go run ./infra/knative/render -print func-image
//
// Unless -check=false, it first checks that the generated base matches
// the registered functions and that the rendered set is consistent
// (knative.Check), and refuses to print a set a cluster would reject.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/veil-privacy/veil/infra/knative"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "knative/render:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	overlay := fs.String("overlay", "dev", "overlay under infra/knative/overlays")
	image := fs.String("image", "", "Veil image by digest (registry/veil@sha256:…); empty leaves the placeholder")
	kinds := fs.String("kinds", "", "comma-separated kinds to print (default: all)")
	check := fs.Bool("check", true, "refuse stale or inconsistent manifests")
	print := fs.String("print", "", "print one value instead of manifests: namespace (of the overlay) or func-image (deploy.image in func.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := knative.Dir()
	if err != nil {
		return err
	}
	if *print == "func-image" {
		img, err := funcImage(filepath.Join(dir, "..", "..", "func.yaml"))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, img)
		return err
	}
	if strings.ContainsAny(*overlay, `/\.`) {
		return fmt.Errorf("overlay %q: give a name under infra/knative/overlays", *overlay)
	}
	odir := filepath.Join(dir, "overlays", *overlay)
	if _, err := os.Stat(odir); err != nil {
		return fmt.Errorf("no overlay %q under infra/knative/overlays", *overlay)
	}
	switch *print {
	case "":
	case "namespace":
		k, err := knative.LoadKustomization(odir)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, k.Namespace)
		return err
	default:
		return fmt.Errorf("-print %q: want namespace or func-image", *print)
	}
	var images []knative.Image
	if *image != "" {
		im, err := knative.ImageFor(*image)
		if err != nil {
			return err
		}
		images = append(images, im)
	}
	objs, err := knative.Render(odir, images...)
	if err != nil {
		return err
	}
	if *check {
		fns, err := knative.Inventory(context.Background())
		if err != nil {
			return err
		}
		files, err := knative.Generate(fns)
		if err != nil {
			return err
		}
		d, err := knative.Compare(dir, files)
		if err != nil {
			return err
		}
		if !d.Empty() {
			return fmt.Errorf("infra/knative/base does not match the registered functions; run `go generate ./infra/knative` and commit:\n%s", d)
		}
		if errs := knative.Check(objs, fns); len(errs) > 0 {
			return fmt.Errorf("overlay %s is inconsistent:\n%w", *overlay, errors.Join(errs...))
		}
	}
	if *kinds != "" {
		want := map[string]bool{}
		for _, k := range strings.Split(*kinds, ",") {
			want[strings.TrimSpace(k)] = true
		}
		var kept []knative.Object
		for _, o := range objs {
			if k, _ := o["kind"].(string); want[k] {
				kept = append(kept, o)
			}
		}
		objs = kept
	}
	return knative.Encode(out, objs)
}

// funcImage reads the image `func deploy` recorded in func.yaml
// (deploy.image, with its digest).
func funcImage(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var f struct {
		Deploy struct {
			Image string `yaml:"image"`
		} `yaml:"deploy"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if f.Deploy.Image == "" {
		return "", fmt.Errorf("%s has no deploy.image; run `func deploy` first or pass --image", path)
	}
	if _, err := knative.ImageFor(f.Deploy.Image); err != nil {
		return "", err
	}
	return f.Deploy.Image, nil
}
