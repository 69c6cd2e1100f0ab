package events

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:generate go run ./schemagen

// schemaFiles are the published schemas, one per type, generated from the
// payload structs (go generate) and checked to be current by a test.
//
//go:embed schemas/*.json
var schemaFiles embed.FS

// SchemaFile is where type t's schema lives under events/.
func SchemaFile(t string) string { return "schemas/" + strings.TrimPrefix(t, "com.veil.") + ".json" }

// GenerateSchema derives the JSON Schema of type t's payload from its Go
// struct: fields without omitempty are required, no others are allowed.
func GenerateSchema(t string) ([]byte, error) {
	rt, ok := catalog[t]
	if !ok {
		return nil, fmt.Errorf("events: unknown type %q", t)
	}
	s := schemaOf(rt)
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://veil.example/events/" + strings.TrimPrefix(t, "com.veil.") + ".json"
	s["title"] = t
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func schemaOf(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		return schemaOf(t.Elem())
	}
	if t == reflect.TypeFor[time.Time]() {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string", "maxLength": 4096}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "maxItems": 10000, "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "maxProperties": 256, "additionalProperties": schemaOf(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		required := []string{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			props[name] = schemaOf(f.Type)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
		return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	}
	panic(fmt.Sprintf("events: no schema for %s", t))
}

// Validator checks payloads against the published schemas.
type Validator struct {
	schemas map[string]*jsonschema.Schema
}

// NewValidator compiles every schema in the catalog.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	v := &Validator{schemas: map[string]*jsonschema.Schema{}}
	for _, t := range Types() {
		raw, err := schemaFiles.ReadFile(SchemaFile(t))
		if err != nil {
			return nil, fmt.Errorf("events: schema for %s missing (run go generate ./events): %w", t, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("events: schema for %s: %w", t, err)
		}
		url := "mem:///" + SchemaFile(t)
		if err := c.AddResource(url, doc); err != nil {
			return nil, err
		}
		s, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("events: compile schema for %s: %w", t, err)
		}
		v.schemas[t] = s
	}
	return v, nil
}

// Validate checks data against type t's schema.
func (v *Validator) Validate(t string, data []byte) error {
	s, ok := v.schemas[t]
	if !ok {
		return fmt.Errorf("unknown event type %q", t)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("event data is not JSON: %v", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("event data does not match %s: %v", SchemaFile(t), err)
	}
	return nil
}
