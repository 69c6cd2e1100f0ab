package requests

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/veil-privacy/veil/privacy"
)

func TestParseSubmission(t *testing.T) {
	long := strings.Repeat("x", maxDetails+1)
	tests := []struct {
		name       string
		body       string
		production bool
		field      string // "" = accepted
		check      func(t *testing.T, p *parsed)
	}{
		{name: "copy by email", body: `{"type":"copy","subject":{"email":"Li.Lei@Example.com"}}`,
			check: func(t *testing.T, p *parsed) {
				if p.Type != privacy.ReqCopy || p.Subject.String() != "account:li.lei@example.com" {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "device subject", body: `{"type":"delete","subject":{"device":"device:OAID:AbC-123"}}`,
			check: func(t *testing.T, p *parsed) {
				if !p.Subject.IsDevice() || p.Subject.String() != "device:oaid:abc-123" {
					t.Errorf("got %+v", p.Subject)
				}
			}},
		{name: "every contract type parses", body: `{"type":"appeal","subject":{"email":"a@b.cn"},"details":"my device was flagged as fake"}`},
		{name: "unknown type", body: `{"type":"erase","subject":{"email":"a@b.cn"}}`, field: "type"},
		{name: "no type", body: `{"subject":{"email":"a@b.cn"}}`, field: "type"},
		{name: "no subject", body: `{"type":"copy"}`, field: "subject"},
		{name: "both subjects", body: `{"type":"copy","subject":{"email":"a@b.cn","device":"device:oaid:x"}}`, field: "subject"},
		{name: "bad email", body: `{"type":"copy","subject":{"email":"not an address"}}`, field: "subject.email"},
		{name: "account in the device slot", body: `{"type":"copy","subject":{"device":"account:a@b.cn"}}`, field: "subject.device"},
		{name: "unknown id type", body: `{"type":"copy","subject":{"device":"device:serial:123"}}`, field: "subject.device"},
		{name: "unknown field", body: `{"type":"copy","subject":{"email":"a@b.cn"},"channel":"web"}`, field: "channel"},
		{name: "wrong JSON type", body: `{"type":"copy","subject":{"email":42}}`, field: "subject.email"},
		{name: "details too long", body: `{"type":"copy","subject":{"email":"a@b.cn"},"details":"` + long + `"}`, field: "details"},
		{name: "correction with fields", body: `{"type":"correct","subject":{"email":"a@b.cn"},"corrections":{"phone":"+86 10 1234 5678"}}`},
		{name: "correction with details only", body: `{"type":"correct","subject":{"email":"a@b.cn"},"details":"my company name is misspelt"}`},
		{name: "correction saying nothing", body: `{"type":"correct","subject":{"email":"a@b.cn"}}`, field: "corrections"},
		{name: "corrections on a copy", body: `{"type":"copy","subject":{"email":"a@b.cn"},"corrections":{"a":"b"}}`, field: "corrections"},
		{name: "correction key with a line break", body: `{"type":"correct","subject":{"email":"a@b.cn"},"corrections":{"a\nb":"c"}}`, field: "corrections"},
		{name: "portability to https", body: `{"type":"portability","subject":{"email":"a@b.cn"},"deliver_to":"https://partner.example/intake"}`,
			check: func(t *testing.T, p *parsed) {
				if p.DeliverTo != "https://partner.example/intake" {
					t.Errorf("deliver_to = %q", p.DeliverTo)
				}
			}},
		{name: "portability without endpoint", body: `{"type":"portability","subject":{"email":"a@b.cn"}}`, field: "deliver_to"},
		{name: "portability with credentials in the URL", body: `{"type":"portability","subject":{"email":"a@b.cn"},"deliver_to":"https://u:p@partner.example/"}`, field: "deliver_to"},
		{name: "plain http allowed outside production", body: `{"type":"portability","subject":{"email":"a@b.cn"},"deliver_to":"http://127.0.0.1:9/in"}`},
		{name: "plain http refused in production", body: `{"type":"portability","subject":{"email":"a@b.cn"},"deliver_to":"http://partner.example/in"}`, production: true, field: "deliver_to"},
		{name: "deliver_to on a copy", body: `{"type":"copy","subject":{"email":"a@b.cn"},"deliver_to":"https://x.example"}`, field: "deliver_to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseSubmission([]byte(tt.body), tt.production)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tt.check != nil {
					tt.check(t, p)
				}
				return
			}
			var de *privacy.Error
			if err == nil {
				t.Fatalf("accepted %+v, want an error on %s", p, tt.field)
			}
			if privacy.ErrorCode(err) != privacy.EINVALID {
				t.Fatalf("code %s, want invalid: %v", privacy.ErrorCode(err), err)
			}
			if de, _ = err.(*privacy.Error); de == nil || de.Field != tt.field {
				t.Fatalf("error %v names the wrong field, want %s", err, tt.field)
			}
		})
	}
}

func FuzzSubmission(f *testing.F) {
	for _, seed := range []string{
		`{"type":"copy","subject":{"email":"a@b.cn"}}`,
		`{"type":"correct","subject":{"email":"a@b.cn"},"corrections":{"name":"李雷"}}`,
		`{"type":"portability","subject":{"device":"device:oaid:abc"},"deliver_to":"https://x.example/"}`,
		`{"type":"delete","subject":{"device":"device:imei:352099001761481"},"details":"删除"}`,
		`{"type":1}`, `[]`, `null`, `{"subject":{"email":"\u0000@x"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseSubmission(body, true)
		if err != nil {
			if c := privacy.ErrorCode(err); c != privacy.EINVALID {
				t.Fatalf("a bad body must be EINVALID, got %s: %v", c, err)
			}
			return
		}
		// Whatever is accepted is something the lifecycle can file.
		if !p.Type.Valid() || p.Subject.Value == "" || (p.Subject.Kind != "account" && p.Subject.Kind != "device") {
			t.Fatalf("accepted an unusable request: %+v", p)
		}
		if len(p.Details) > maxDetails || len(p.Corrections) > maxCorrections {
			t.Fatalf("accepted an oversized request")
		}
		if (p.Type == privacy.ReqPortability) != (p.DeliverTo != "") {
			t.Fatalf("deliver_to %q on a %s request", p.DeliverTo, p.Type)
		}
		if p.DeliverTo != "" && !strings.HasPrefix(p.DeliverTo, "https://") {
			t.Fatalf("production accepted %q", p.DeliverTo)
		}
	})
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"123456", "123456", true},
		{" 123 456 ", "123456", true},
		{"123-456", "123456", true},
		{"１２３４５６", "123456", true},
		{"12345", "", false},
		{"1234567", "", false},
		{"12345a", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMaskIDs(t *testing.T) {
	tests := []struct {
		name, text string
		ids        []string
		gone       []string
	}{
		{"oaid in any case", "我的OAID是 AbCd-1234-EF，请删除", []string{"abcd-1234-ef"}, []string{"AbCd-1234-EF"}},
		{"imei written in groups", "IMEI: 35 209900 176148 1", []string{"352099001761481"}, []string{"35 209900 176148 1", "176148"}},
		{"two ids", "gaid=aaaa1111 and idfa=bbbb2222", []string{"aaaa1111", "bbbb2222"}, []string{"aaaa1111", "bbbb2222"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := maskIDs(tt.text, tt.ids)
			for _, g := range tt.gone {
				if strings.Contains(got, g) {
					t.Errorf("%q still shows %q", got, g)
				}
			}
			if !strings.Contains(got, "[***]") {
				t.Errorf("%q has no mask", got)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct", "192.0.2.7:5555", nil, "192.0.2.7"},
		{"the proxy's entry, not the client's claim", "10.0.0.1:80", []string{"203.0.113.9, 198.51.100.4"}, "198.51.100.4"},
		{"last header wins", "10.0.0.1:80", []string{"1.1.1.1", "198.51.100.5"}, "198.51.100.5"},
		{"garbage falls back to the peer", "10.0.0.1:80", []string{"not-an-ip"}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/requests", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r); got != tt.want {
				t.Errorf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}
