package partners

import (
	"strings"
	"testing"

	"github.com/veil-privacy/veil/privacy"
)

// FuzzDecodeRegistration: any body is refused with a 400-class domain
// error or accepted as a registration the feed can rely on.
func FuzzDecodeRegistration(f *testing.F) {
	for _, s := range []string{
		`{"name":"Measure Co","purposes":["fraud","attribution"],"location":"cn-shanghai"}`,
		`{"name":"P","purposes":["creative"],"location":"us-east-1","delivery":{"webhook":"https://p.example/erasures"}}`,
		`{"name":"P","purposes":["fraud","fraud"],"location":"cn"}`,
		`{"name":"P","purposes":["statistics"],"location":"CN-Shanghai "}`,
		`{"name":"P\n","purposes":["fraud"],"location":"cn-x","delivery":{"webhook":"http://u:p@h/"}}`,
		`{"name":"P","purposes":null,"location":1}`, `[]`, `null`, `{} {}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, production bool) {
		in, err := DecodeRegistration(body, production)
		if err != nil {
			if c := privacy.ErrorCode(err); c != privacy.EINVALID {
				t.Fatalf("refused with %s: %v", c, err)
			}
			return
		}
		if in.Name == "" || strings.ContainsAny(in.Name, "\r\n") || len(in.Purposes) == 0 || !locationPattern.MatchString(in.Location) {
			t.Fatalf("accepted %+v", in)
		}
		for _, p := range in.Purposes {
			if p == privacy.PurposeStatistics || p == privacy.PurposeRights {
				t.Fatalf("accepted purpose %s", p)
			}
		}
		if in.Delivery != nil && in.Delivery.Webhook != "" && production && !strings.HasPrefix(strings.ToLower(in.Delivery.Webhook), "https:") {
			t.Fatalf("accepted a non-https webhook in production: %q", in.Delivery.Webhook)
		}
	})
}
