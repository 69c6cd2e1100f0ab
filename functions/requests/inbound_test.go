package requests

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/veil-privacy/veil/infra/mailin"
	"github.com/veil-privacy/veil/privacy"
)

func TestMailText(t *testing.T) {
	tests := []struct {
		name, subject, body string
		ids                 []string
		keep, gone          []string
	}{
		{"full-width id is masked like mailin reads it", "删除", "OAID：ＡＢＣＤ－１２３４－ＥＦ", []string{"abcd-1234-ef"},
			[]string{"删除", "OAID:"}, []string{"ＡＢＣＤ", "ABCD", "abcd"}},
		{"no ids, text kept", "Delete my data", "Please delete everything.", nil,
			[]string{"Delete my data", "Please delete everything."}, nil},
		{"long mail is bounded", "s", strings.Repeat("数据", maxDetails), nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mailText(tt.subject, tt.body, tt.ids)
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("lost %q: %q", k, got)
				}
			}
			for _, g := range tt.gone {
				if strings.Contains(got, g) {
					t.Errorf("kept %q: %q", g, got)
				}
			}
			if len(got) > maxDetails+len("…") || !utf8.ValidString(got) {
				t.Errorf("%d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
			}
		})
	}
}

// FuzzMailRequest fuzzes the MIME path as intake uses it: whatever mailin
// makes of a message, the text kept for review names no device id the
// request files, is bounded UTF-8, and the type is a contract type or "".
func FuzzMailRequest(f *testing.F) {
	files, _ := filepath.Glob("../../infra/mailin/testdata/*.eml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("From: a@b.cn\r\nSubject: =?GB2312?B?yb6z/Q==?=\r\n\r\nOAID: 1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9\r\n"))
	f.Add([]byte("From: a@b.cn\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIMEI：35 209900 176148 1，请删除\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := mailin.Parse(bytes.NewReader(raw))
		if err != nil {
			return
		}
		if typ := privacy.RequestType(m.Intent); typ != "" && !typ.Valid() {
			t.Fatalf("intent %q is not a request type", m.Intent)
		}
		var ids []string
		for _, s := range mailDevices(m.Devices) {
			ids = append(ids, s.Value)
		}
		text := mailText(m.Subject, m.Text, ids)
		if len(text) > maxDetails+len("…") || !utf8.ValidString(text) {
			t.Fatalf("kept %d bytes (valid UTF-8: %v)", len(text), utf8.ValidString(text))
		}
		folded := strings.ToLower(text)
		for _, id := range ids {
			if strings.Contains(folded, id) {
				t.Fatalf("device id %q kept in %q", id, text)
			}
		}
	})
}
