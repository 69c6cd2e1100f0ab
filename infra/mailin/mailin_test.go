package mailin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func parseFile(t *testing.T, name string) *Message {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return m
}

func TestCorpus(t *testing.T) {
	tests := []struct {
		file        string
		from        string
		fromName    string
		subject     string
		intent      string
		devices     []string
		contains    []string
		notContains []string
		attachments []Attachment
	}{
		{
			file: "01-gb2312-delete.eml", from: "li.lei@example.com", fromName: "李雷",
			subject: "申请删除我的个人信息", intent: IntentDelete,
			devices:  []string{"device:oaid:1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"},
			contains: []string{"请删除贵方收集的我的全部个人信息", "“天天看”APP", "李雷\n2025年3月3日"},
		},
		{
			file: "02-gb18030-withdraw.eml", from: "wangfang@example.cn", fromName: "王芳",
			subject: "撤回同意：关闭个性化广告", intent: IntentWithdrawConsent,
			devices: []string{
				"device:imei:490154203237518",
				"device:oaid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
			},
			contains: []string{"现撤回同意😊。", "请删除基于该同意收集的数据"},
		},
		{
			file: "03-utf8-copy.eml", from: "zhang.wei@example.org", fromName: "张伟",
			subject: "申请获取本人个人信息副本", intent: IntentCopy,
			devices:  []string{"device:android_id:9f3b2a1c4d5e6f70"},
			contains: []string{"我申请获取贵公司处理的我的个人信息副本"},
		},
		{
			file: "04-english-access.eml", from: "emily.carter@example.co.uk", fromName: "Emily Carter",
			subject: "Subject access request", intent: IntentAccess,
			devices:  []string{"device:idfa:6d92078a-8246-4ba4-ae5b-76104861e7dc"},
			contains: []string{"I am requesting access to the personal data you\nprocess"},
		},
		{
			file: "05-html-only.eml", from: "jane.doe@example.com", fromName: "Jane Doe",
			subject: "Correction of my personal data", intent: IntentCorrect,
			devices:     []string{"device:gaid:38400000-8cf0-11bd-b23e-10b96e40000d"},
			contains:    []string{"Hello,\n", "Please rectify it to +44 20 7946 0000 & confirm <by email>.", "Thanks,\nJane"},
			notContains: []string{"font-family", "alert(", "Ignore this title", "<p>", "sent from a web form", "&amp;"},
		},
		{
			file: "06-alternative.eml", from: "liuyang@example.net", fromName: "刘洋",
			subject: "数据可携带：请把我的数据转移到新服务商", intent: IntentPortability,
			devices:     []string{"device:oaid:a3f1c2d4-5e6f-4789-9abc-def012345678"},
			contains:    []string{"请将我的个人信息转移至以下服务商：example-new.cn"},
			notContains: []string{"HTML-only footer"},
		},
		{
			file: "07-forwarded.eml", from: "tom.baker@example.net", fromName: "Tom Baker",
			subject: "Fwd: My earlier request", intent: IntentDelete,
			devices: []string{"device:gaid:7c9e6679-7425-40de-944b-e07fc1f90ae7"},
			contains: []string{
				"have had no answer",
				"---------- Forwarded message ---------\nFrom: Tom Baker <tom.baker@example.net>",
				"Subject: Request to erase my data",
				"Please erase all personal data you hold about me",
			},
		},
		{
			file: "08-pdf-attachment.eml", from: "zhoujie@example.com", fromName: "周杰",
			subject: "注销账号申请", intent: IntentCancelAccount,
			contains:    []string{"我申请注销我在贵平台的账号", "并删除账号相关的全部数据"},
			notContains: []string{"%PDF", "multi-part message in MIME format"},
			attachments: []Attachment{{Name: "身份证明.pdf", ContentType: "application/pdf", Size: int64(len(fakePDF))}},
		},
		{
			file: "09-complaint-zh.eml", from: "zhaomin@example.com.cn", fromName: "赵敏",
			subject: "投诉：APP未经同意读取通讯录", intent: IntentComplaint,
			devices:  []string{"device:imei:356938035643809"},
			contains: []string{"我要投诉贵公司“快剪”APP"},
		},
		{
			file: "10-appeal.eml", from: "chenjing@example.org", fromName: "陈静",
			subject: "Re: 您的删除请求已被拒绝", intent: IntentAppeal,
			contains: []string{"现提出申诉", "> 您于3月20日提交的删除请求"},
		},
		{
			file: "11-hello.eml", from: "visitor@example.com", fromName: "",
			subject: "hello", intent: "",
			contains: []string{"hello\n\nIs this address monitored?"},
		},
		{
			file: "12-big5.eml", from: "lin.zhiming@example.com.tw", fromName: "林志明",
			subject: "請刪除我的個人資料", intent: IntentDelete,
			devices:  []string{"device:oaid:5d41402a-bc4b-4a76-b971-9d911017c592"},
			contains: []string{"請求刪除貴公司所保存之本人個人資料", "林志明 敬上"},
		},
		{
			file: "13-nested-latin1.eml", from: "juergen.mueller@example.de", fromName: "Jürgen Müller",
			subject: "Widerruf meiner Einwilligung / opt-out", intent: IntentWithdrawConsent,
			contains:    []string{"für personalisierte Werbung (opt-out)", "Mit freundlichen Grüßen\nJürgen Müller"},
			notContains: []string{"<p>"},
			attachments: []Attachment{{Name: "logo.png", ContentType: "image/png", Size: 70}},
		},
		{
			file: "14-split-gbk-words.eml", from: "sun.li@example.cn", fromName: "",
			subject: "更正我的手机号码", intent: IntentCorrect,
			contains: []string{"请更正为13912345678"},
		},
		{
			file: "15-unknown-charset.eml", from: "xiaozhou@example.com", fromName: "小周",
			subject: "个人数据查询", intent: IntentAccess,
			contains: []string{"请帮我查询贵司保存的我的个人数据"},
		},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if len(files) != len(tests) {
		t.Errorf("testdata has %d .eml files, the table covers %d", len(files), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m := parseFile(t, tc.file)
			if m.From != tc.from {
				t.Errorf("From = %q, want %q", m.From, tc.from)
			}
			if m.FromName != tc.fromName {
				t.Errorf("FromName = %q, want %q", m.FromName, tc.fromName)
			}
			if m.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tc.subject)
			}
			if m.Intent != tc.intent {
				t.Errorf("Intent = %q, want %q", m.Intent, tc.intent)
			}
			if !slices.Equal(m.Devices, tc.devices) {
				t.Errorf("Devices = %q, want %q", m.Devices, tc.devices)
			}
			for _, s := range tc.contains {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text lacks %q; Text:\n%s", s, m.Text)
				}
			}
			for _, s := range tc.notContains {
				if strings.Contains(m.Text, s) {
					t.Errorf("Text contains %q; Text:\n%s", s, m.Text)
				}
			}
			if !slices.Equal(m.Attachments, tc.attachments) {
				t.Errorf("Attachments = %+v, want %+v", m.Attachments, tc.attachments)
			}
			if m.MessageID == "" && tc.file != "15-unknown-charset.eml" {
				t.Error("MessageID is empty")
			}
			if m.Date.IsZero() {
				t.Error("Date is zero")
			}
		})
	}
}

func TestParseHeaderFields(t *testing.T) {
	m := parseFile(t, "01-gb2312-delete.eml")
	if m.MessageID != "<20250303091522.4417@mail.example.com>" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	want := time.Date(2025, 3, 3, 1, 15, 22, 0, time.UTC)
	if !m.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", m.Date, want)
	}
}

func TestParseTooLarge(t *testing.T) {
	head := "From: a@example.com\nSubject: big\n\n"
	over := io.MultiReader(strings.NewReader(head), bytes.NewReader(bytes.Repeat([]byte("x"), MaxMessageBytes-len(head)+1)))
	if _, err := Parse(over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Parse(10 MiB + 1) = %v, want ErrTooLarge", err)
	}
	// Exactly at the limit is accepted.
	body := bytes.Repeat([]byte("delete my data\n"), (MaxMessageBytes-len(head))/15)
	body = append(body, bytes.Repeat([]byte("x"), MaxMessageBytes-len(head)-len(body))...)
	m, err := Parse(io.MultiReader(strings.NewReader(head), bytes.NewReader(body)))
	if err != nil {
		t.Fatalf("Parse(exactly 10 MiB): %v", err)
	}
	if m.Intent != IntentDelete {
		t.Errorf("Intent = %q", m.Intent)
	}
}

// multipartMail builds a multipart/mixed message with n text parts.
func multipartMail(n int) string {
	var b strings.Builder
	b.WriteString("From: a@example.com\nSubject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n")
	for i := range n {
		fmt.Fprintf(&b, "--b\nContent-Type: text/plain\n\npart %d\n", i)
	}
	b.WriteString("--b--\n")
	return b.String()
}

func TestParsePartLimit(t *testing.T) {
	// The root counts as a part: 1 + 99 is the most accepted.
	m, err := Parse(strings.NewReader(multipartMail(maxParts - 1)))
	if err != nil {
		t.Fatalf("%d parts: %v", maxParts, err)
	}
	if !strings.Contains(m.Text, "part 98") {
		t.Errorf("last part missing from Text")
	}
	_, err = Parse(strings.NewReader(multipartMail(maxParts)))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "more than 100 MIME parts") {
		t.Fatalf("%d parts: err = %v, want ErrMalformed about parts", maxParts+1, err)
	}
}

// nestedMail nests depth multiparts below the root.
func nestedMail(depth int) string {
	var b strings.Builder
	b.WriteString("From: a@example.com\nSubject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\nContent-Type: text/plain\n\ninnermost\n", depth)
	for i := depth; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	return b.String()
}

func TestParseDepthLimit(t *testing.T) {
	m, err := Parse(strings.NewReader(nestedMail(maxDepth - 1)))
	if err != nil {
		t.Fatalf("depth %d: %v", maxDepth, err)
	}
	if m.Text != "innermost" {
		t.Errorf("Text = %q", m.Text)
	}
	_, err = Parse(strings.NewReader(nestedMail(maxDepth)))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "nested more than 10 levels") {
		t.Fatalf("depth %d: err = %v, want ErrMalformed about nesting", maxDepth+1, err)
	}
}

func TestParseMalformed(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":            "",
		"blank":            "\r\n\r\n",
		"not a header":     "this is not an email at all\nno colon here\n",
		"no from":          "Subject: delete my data\n\nplease\n",
		"from w/o address": "From: Li Lei\nSubject: x\n\nbody\n",
		"no boundary":      "From: a@example.com\nContent-Type: multipart/mixed\n\n--x\n\nhi\n--x--\n",
		"wrong boundary":   "From: a@example.com\nContent-Type: multipart/mixed; boundary=zz\n\n--x\n\nhi\n--x--\n",
		"bad part header":  "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\nno colon\n\nx\n--b--\n",
		"too many headers": "From: a@example.com\n" + strings.Repeat("X-A: b\n", maxHeaderFields) + "\nhi\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(raw))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.HasPrefix(err.Error(), "mailin: malformed message: ") || len(err.Error()) < 40 {
				t.Errorf("unhelpful message: %q", err)
			}
		})
	}
	if _, err := Parse(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse(nil) = %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestParseReadError(t *testing.T) {
	_, err := Parse(failingReader{})
	if err == nil || errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseLenient(t *testing.T) {
	tests := []struct {
		name, raw   string
		from, name2 string
		subject     string
		text        string
	}{
		{
			name: "no content-type, mbox line, no date",
			raw:  "From li@x.cn Mon Mar  3 09:15:22 2025\nFrom: li@x.cn\nSubject: hi\n\nplain body\n",
			from: "li@x.cn", subject: "hi", text: "plain body",
		},
		{
			name: "unparseable content-type is text/plain",
			raw:  "From: a@example.com\nContent-Type: ;;garbage\n\nstill text\n",
			from: "a@example.com", text: "still text",
		},
		{
			name: "raw utf-8 in declared us-ascii body",
			raw:  "From: a@example.com\nContent-Type: text/plain; charset=us-ascii\n\n请删除\n",
			from: "a@example.com", text: "请删除",
		},
		{
			name: "invalid bytes replaced",
			raw:  "From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\nbad \xff\xfe byte\n",
			from: "a@example.com", text: "bad \uFFFD byte",
		},
		{
			name: "raw GBK subject read in the body charset",
			raw:  "From: a@example.com\nSubject: \xc9\xbe\xb3\xfd\nContent-Type: text/plain; charset=gbk\n\n\xc9\xbe\xb3\xfd\n",
			from: "a@example.com", subject: "删除", text: "删除",
		},
		{
			name: "broken quoted-printable and base64 decode best effort",
			raw: "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n" +
				"--b\nContent-Transfer-Encoding: quoted-printable\n\na=ZZb =E4=BD=A0\x0c=\n=\n" +
				"--b\nContent-Transfer-Encoding: base64\n\n5L2g5aW9!!\n5L2g=\n--b--\n",
			from: "a@example.com", text: "a=ZZb 你\n\n你好你",
		},
		{
			name: "truncated after the last boundary",
			raw:  "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\n\nsecond, cut",
			from: "a@example.com", text: "first\n\nsecond, cut",
		},
		{
			name: "sloppy from header",
			raw:  "From: Li \"Lei <LI@Example.CN>\nSubject: x\n\nbody\n",
			from: "li@example.cn", name2: "Li \"Lei", subject: "x", text: "body",
		},
		{
			name: "unknown transfer encoding passes through",
			raw:  "From: a@example.com\nContent-Transfer-Encoding: x-rot13\n\nunchanged\n",
			from: "a@example.com", text: "unchanged",
		},
		{
			name: "digest defaults parts to message/rfc822",
			raw: "From: a@example.com\nContent-Type: multipart/digest; boundary=d\n\n--d\n\n" +
				"From: b@example.com\nSubject: inner\n\ninner body\n--d--\n",
			from: "a@example.com",
			text: "---------- Forwarded message ---------\nFrom: b@example.com\nSubject: inner\n\ninner body",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if m.From != tc.from || m.FromName != tc.name2 || m.Subject != tc.subject || m.Text != tc.text {
				t.Errorf("got From=%q FromName=%q Subject=%q Text=%q\nwant From=%q FromName=%q Subject=%q Text=%q",
					m.From, m.FromName, m.Subject, m.Text, tc.from, tc.name2, tc.subject, tc.text)
			}
		})
	}
}

func TestParseAttachments(t *testing.T) {
	raw := "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\nsee attached\n" +
		"--b\nContent-Type: text/plain; name=\"notes.txt\"\nContent-Disposition: attachment\n\nnot body\n" +
		"--b\nContent-Type: application/octet-stream; name=\"..\\\\..\\\\evil.exe\"\nContent-Transfer-Encoding: base64\n\nAAEC\n" +
		"--b\nContent-Type: image/jpeg\nContent-Disposition: attachment; filename=\"=?GBK?B?ye233dak?=.jpg\"\n\nJPEG\n" +
		"--b\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=\"junk.eml\"\n\nno header line here\n--b--\n"
	m, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := []Attachment{
		{Name: "notes.txt", ContentType: "text/plain", Size: 8},
		{Name: "evil.exe", ContentType: "application/octet-stream", Size: 3},
		{Name: "身份证.jpg", ContentType: "image/jpeg", Size: 4},
		{Name: "junk.eml", ContentType: "message/rfc822", Size: 19},
	}
	if !slices.Equal(m.Attachments, want) {
		t.Errorf("Attachments = %+v\nwant %+v", m.Attachments, want)
	}
	if m.Text != "see attached" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestMergeEncodedWords(t *testing.T) {
	dec := newWordDecoder()
	tests := map[string]string{
		// "删除" in GBK split between two words mid-character.
		"=?gbk?B?yb4=?= =?gbk?B?s/0=?=":                      "删除",
		"=?utf-8?q?=E5=88?= =?UTF-8?B?oOmZpA==?=":            "删除",
		"=?utf-8?B?5Yig?= x =?utf-8?B?6Zmk?=":                "删 x 除",
		"=?big5?B?p1I=?= =?utf-8?B?6Zmk?=":                   "刪除",
		"plain =?us-ascii?Q?a?=":                             "plain a",
		"=?unknown-cs?Q?caf=C3=A9?=":                         "café",
		"=?utf-8?Q?broken":                                   "=?utf-8?Q?broken",
		"Re: =?GB2312?B?yb6z/Q==?= =?GB2312?B?yv2+3Q==?= ok": "Re: 删除数据 ok",
	}
	for in, want := range tests {
		if got := decodeHeader(dec, in, ""); got != want {
			t.Errorf("decodeHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	in := `<html><head><style>.x{color:red}</style></head><body>
<div>Line&nbsp;one<br>line   two</div><table><tr><td>a</td><td>b</td></tr></table>
<ul><li>first</li><li>second</li></ul><script type="text/javascript">var x = "<p>";</script>
<div class="gmail_quote">On Mon, Bob wrote:<blockquote>quoted <b>text</b><p>more</p></blockquote></div>
<pre>  keep
    spacing</pre>&#21024;&#x9664; &eacute; &lt;tag&gt;</body></html>`
	want := "Line one\nline two\na b\n- first\n- second\nOn Mon, Bob wrote:\n> quoted text\n> more\n  keep\n    spacing\n删除 é <tag>"
	if got := htmlToText(in); got != want {
		t.Errorf("htmlToText:\n%s\nwant:\n%s", got, want)
	}
}

// Nested blockquotes render as "> " prefixes; deep nesting over many lines
// must not multiply the message size.
func TestParseBlockquoteAmplification(t *testing.T) {
	raw := "From: a@example.com\nContent-Type: text/html\n\n" +
		strings.Repeat("<blockquote>", 400000) + strings.Repeat("a<br>", 1000000)
	m, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Text) > 2*len(raw) {
		t.Fatalf("Text is %d bytes from %d bytes of input", len(m.Text), len(raw))
	}
	if !strings.HasPrefix(m.Text, strings.Repeat("> ", maxQuotePrefix)+"a\n") {
		t.Errorf("Text starts %q", m.Text[:40])
	}
}
