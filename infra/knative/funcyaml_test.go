package knative

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The func CLI's schema for func.yaml lives in the shared folder beside the
// clone (CI lays it there too).
const funcSchemaPath = "../../../shared/schemas/func_yaml-schema.json"

func TestFuncYAMLValidAgainstSchema(t *testing.T) {
	schemaRaw, err := os.ReadFile(funcSchemaPath)
	if errors.Is(err, fs.ErrNotExist) {
		abs, _ := filepath.Abs(funcSchemaPath)
		t.Fatalf("the func.yaml schema is missing at %s: this test needs the shared/ folder beside the repository clone (as on developer machines and CI)", abs)
	}
	if err != nil {
		t.Fatal(err)
	}
	var schemaDoc any
	if err := json.Unmarshal(schemaRaw, &schemaDoc); err != nil {
		t.Fatalf("schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("func_yaml-schema.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("func_yaml-schema.json")
	if err != nil {
		t.Fatal(err)
	}

	good := readFuncYAML(t)
	if err := sch.Validate(good); err != nil {
		t.Errorf("func.yaml does not validate against the func CLI schema:\n%v", err)
	}
	// The schema really is being applied: variants that break it fail.
	tests := []struct {
		name   string
		change func(m map[string]any)
	}{
		{"unknown top-level field", func(m map[string]any) { m["replicas"] = 3 }},
		{"bad invoke", func(m map[string]any) { m["invoke"] = "grpc" }},
		{"negative min scale", func(m map[string]any) {
			m["deploy"].(map[string]any)["options"].(map[string]any)["scale"].(map[string]any)["min"] = -1
		}},
		{"bad env name", func(m map[string]any) {
			m["run"].(map[string]any)["envs"] = []any{map[string]any{"name": "1BAD", "value": "x"}}
		}},
		{"created not a date", func(m map[string]any) { m["created"] = "yesterday" }},
	}
	for _, tt := range tests {
		m := readFuncYAML(t).(map[string]any)
		tt.change(m)
		if err := sch.Validate(m); err == nil {
			t.Errorf("%s: the schema accepted it", tt.name)
		}
	}
}

// TestFuncYAMLMatchesManifests: the Service func deploy creates must fit
// the manifests: same name reservation, SinkBinding label, health paths,
// secrets and namespace as the production overlay.
func TestFuncYAMLMatchesManifests(t *testing.T) {
	raw, err := os.ReadFile("../../func.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Name      string `yaml:"name"`
		Runtime   string `yaml:"runtime"`
		Registry  string `yaml:"registry"`
		Namespace string `yaml:"namespace"`
		Run       struct {
			Envs []struct{ Name, Value string } `yaml:"envs"`
		} `yaml:"run"`
		Deploy struct {
			Namespace          string                               `yaml:"namespace"`
			ServiceAccountName string                               `yaml:"serviceAccountName"`
			Labels             []struct{ Key, Value string }        `yaml:"labels"`
			HealthEndpoints    struct{ Liveness, Readiness string } `yaml:"healthEndpoints"`
		} `yaml:"deploy"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKustomization("overlays/production-cn")
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, l := range f.Deploy.Labels {
		labels[l.Key] = l.Value
	}
	envs := map[string]string{}
	for _, e := range f.Run.Envs {
		envs[e.Name] = e.Value
	}
	checks := []struct {
		what      string
		got, want string
	}{
		{"name", f.Name, FuncService},
		{"runtime", f.Runtime, "go"},
		{"namespace", f.Namespace, k.Namespace},
		{"deploy.namespace", f.Deploy.Namespace, k.Namespace},
		{"deploy.serviceAccountName", f.Deploy.ServiceAccountName, ServiceAccount},
		{"SinkBinding label " + LabelBroker, labels[LabelBroker], BrokerName},
		{"liveness", f.Deploy.HealthEndpoints.Liveness, "/healthz"},
		{"readiness", f.Deploy.HealthEndpoints.Readiness, "/readyz"},
		{SecretOpsToken, envs[SecretOpsToken], "{{ secret:" + SecretName + ":" + SecretOpsToken + " }}"},
		{SecretMasterKey, envs[SecretMasterKey], "{{ secret:" + SecretName + ":" + SecretMasterKey + " }}"},
		{"config import", envs[""], "{{ configMap:" + ConfigMapName + " }}"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("func.yaml %s = %q; want %q", c.what, c.got, c.want)
		}
	}
	if f.Registry == "" || strings.Contains(f.Registry, "@") {
		t.Errorf("func.yaml registry %q: want a registry/namespace for func to push to", f.Registry)
	}
	if _, ok := envs["VEIL_FUNCTIONS"]; ok {
		t.Error("func.yaml sets VEIL_FUNCTIONS: the Service func deploys runs every function")
	}
}

// readFuncYAML loads func.yaml as the JSON data model the schema expects:
// YAML timestamps become RFC 3339 strings, as func writes them.
func readFuncYAML(t *testing.T) any {
	t.Helper()
	raw, err := os.ReadFile("../../func.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	stringifyTimestamps(&n)
	var v any
	if err := n.Decode(&v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func stringifyTimestamps(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!timestamp" {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		stringifyTimestamps(c)
	}
}
