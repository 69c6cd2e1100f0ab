package suite

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/veil-privacy/veil/infra/config"
)

func TestCheckResidency(t *testing.T) {
	cases := []struct {
		name    string
		vars    map[string]string
		badVars []string
	}{
		{"embedded defaults", nil, nil},
		{"cloud regions in China", map[string]string{"VEIL_STORE_LOCATION": "cn-shanghai", "VEIL_BLOB_LOCATION": "cn-north-1", "VEIL_MAIL_LOCATION": "cn-northwest-1"}, nil},
		{"store abroad", map[string]string{"VEIL_STORE_LOCATION": "us-east-1"}, []string{"VEIL_STORE_LOCATION"}},
		{"Hong Kong is not mainland", map[string]string{"VEIL_BLOB_LOCATION": "asia-east2"}, []string{"VEIL_BLOB_LOCATION"}},
		{"two abroad", map[string]string{"VEIL_MAIL_LOCATION": "eu-west-1", "VEIL_STORE_LOCATION": "us-east-1"}, []string{"VEIL_MAIL_LOCATION", "VEIL_STORE_LOCATION"}},
		{"abroad on purpose", map[string]string{"VEIL_STORE_LOCATION": "us-east-1", "VEIL_ALLOW_CROSS_BORDER": "true"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Load(func(k string) string { return c.vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			err = checkResidency(cfg, zerolog.New(&logs))
			if len(c.badVars) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, v := range c.badVars {
				var ce *config.Error
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), v+":") {
					t.Errorf("error %v does not name %s", err, v)
				}
			}
		})
	}
}

// TestNewRefusesCNDataAbroad checks the check runs before anything opens:
// no data directory is even needed.
func TestNewRefusesCNDataAbroad(t *testing.T) {
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"VEIL_STORE_LOCATION": "us-east-1", "VEIL_DATA": t.TempDir()}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), cfg, WithLogOutput(&bytes.Buffer{}))
	if err == nil || !strings.Contains(err.Error(), "VEIL_STORE_LOCATION") {
		t.Fatalf("suite started with the store abroad: %v", err)
	}
}
