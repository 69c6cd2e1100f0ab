package knative

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployDryRun runs scripts/deploy.sh --dry-run as an operator would,
// with kubectl and func replaced by stubs that record any call: the dry
// run must print the complete rendered set (every Service and Trigger of
// the overlay) and touch neither tool.
func TestDeployDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the renderer through deploy.sh")
	}
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	for _, tool := range []string{"kubectl", "func"} {
		stub := "#!/bin/sh\necho \"" + tool + " $*\" >> " + calls + "\nexit 99\n"
		if err := os.WriteFile(filepath.Join(bin, tool), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	im, err := ImageFor(testImage)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		overlay  string
		image    string // want on every function Service
		exitCode int
		stderr   string
	}{
		{name: "dev, image from func", args: []string{"--dry-run", "--overlay", "dev"}, overlay: "dev", image: ImageName, stderr: "func deploy"},
		{name: "production-cn, given image", args: []string{"--dry-run", "--overlay=production-cn", "--image", testImage}, overlay: "production-cn", image: testImage, stderr: "skipped: --image"},
		{name: "unknown overlay", args: []string{"--dry-run", "--overlay", "staging"}, exitCode: 1, stderr: `no overlay "staging"`},
		{name: "tag instead of digest", args: []string{"--dry-run", "--image", "registry.veil.example/veil:latest"}, exitCode: 1, stderr: "deploy by digest"},
		{name: "unknown flag", args: []string{"--dryrun"}, exitCode: 2, stderr: "unknown argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("bash", append([]string{"../../scripts/deploy.sh"}, tt.args...)...)
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.exitCode {
				t.Fatalf("exit %d; want %d\nstderr:\n%s", code, tt.exitCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
			if b, err := os.ReadFile(calls); err == nil {
				t.Errorf("the dry run called: %s", b)
			}
			if tt.exitCode != 0 {
				return
			}
			printed, err := DecodeAll(stdout.Bytes())
			if err != nil {
				t.Fatalf("dry-run output is not YAML manifests: %v", err)
			}
			var images []Image
			if tt.image != ImageName {
				images = append(images, im)
			}
			want, err := Render(filepath.Join("overlays", tt.overlay), images...)
			if err != nil {
				t.Fatal(err)
			}
			got := index(t, printed)
			for id, w := range index(t, want) {
				if g, ok := got[id]; !ok {
					t.Errorf("dry run does not print %s", id)
				} else if g != w {
					t.Errorf("dry run prints %s differently", id)
				}
			}
			if len(got) != len(want) {
				t.Errorf("dry run prints %d objects; the overlay has %d", len(got), len(want))
			}
			s, err := Decode(printed)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Triggers) == 0 && len(s.Services) <= 1 {
				t.Error("dry run printed no function Services or Triggers")
			}
			for n, svc := range s.Services {
				if svc.Metadata.Labels[LabelComponent] == "function" && svc.Spec.Template.Spec.Containers[0].Image != tt.image {
					t.Errorf("Service %s: image %q; want %q", n, svc.Spec.Template.Spec.Containers[0].Image, tt.image)
				}
			}
		})
	}
}
