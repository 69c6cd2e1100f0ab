package mailin

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// TestGenerateCorpus rewrites testdata/*.eml. The corpus is committed as
// real bytes (GBK, Big5, …) so that tests and the fuzzer read exactly what
// arrives on the wire; this generator only exists because those bytes are
// unreadable in an editor. Run it with MAILIN_REGEN_CORPUS=1 after changing
// a message below, and review the diff.
func TestGenerateCorpus(t *testing.T) {
	if os.Getenv("MAILIN_REGEN_CORPUS") != "1" {
		t.Skip("set MAILIN_REGEN_CORPUS=1 to rewrite testdata/*.eml")
	}
	for name, body := range corpusSources(t) {
		if err := os.WriteFile(filepath.Join("testdata", name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCorpusMatchesGenerator keeps the committed bytes and their source in
// step, so a reviewer can trust the readable text below.
func TestCorpusMatchesGenerator(t *testing.T) {
	for name, want := range corpusSources(t) {
		got, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("%s: %v (run with MAILIN_REGEN_CORPUS=1)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator (run with MAILIN_REGEN_CORPUS=1)", name)
		}
	}
}

func mustEncode(t testing.TB, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encoding %q: %v", s, err)
	}
	return b
}

func bWord(charset string, raw []byte) string {
	return "=?" + charset + "?B?" + base64.StdEncoding.EncodeToString(raw) + "?="
}

func qWord(charset string, raw []byte) string {
	var b strings.Builder
	for _, c := range raw {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return "=?" + charset + "?Q?" + b.String() + "?="
}

func qpBody(raw []byte, eol string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write(raw)
	w.Close()
	return strings.ReplaceAll(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\n", eol)
}

func b64Body(raw []byte, eol string) string {
	s := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + eol)
		s = s[76:]
	}
	b.WriteString(s + eol)
	return b.String()
}

// msg joins header lines and body with the given line ending.
func msg(eol string, headers []string, body string) []byte {
	return []byte(strings.Join(headers, eol) + eol + eol + body)
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// fakePDF stands in for a scanned ID: realistic enough for a viewer to
// open, small enough to keep the corpus readable.
const fakePDF = "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
	"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n" +
	"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n" +
	"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n0000000115 00000 n \n" +
	"trailer << /Size 4 /Root 1 0 R >>\nstartxref\n186\n%%EOF\n"

// onePixelPNG is a 1×1 transparent PNG, the classic signature logo.
const onePixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

func corpusSources(t testing.TB) map[string][]byte {
	gbk := simplifiedchinese.GBK
	gb18030 := simplifiedchinese.GB18030
	big5 := traditionalchinese.Big5
	latin1 := charmap.ISO8859_1
	utf8raw := func(s string) []byte { return []byte(s) }
	out := map[string][]byte{}

	out["01-gb2312-delete.eml"] = msg("\n", []string{
		"Return-Path: <Li.Lei@Example.COM>",
		"Received: from mx.mail.example.com (mx.mail.example.com [203.0.113.25])",
		"\tby mx.veil.example with ESMTPS id 4417; Mon, 3 Mar 2025 09:15:25 +0800",
		"From: " + bWord("GB2312", mustEncode(t, gbk, "李雷")) + " <Li.Lei@Example.COM>",
		"To: privacy@veil.example",
		"Subject: " + bWord("GB2312", mustEncode(t, gbk, "申请删除我的个人信息")),
		"Date: Mon, 3 Mar 2025 09:15:22 +0800",
		"Message-ID: <20250303091522.4417@mail.example.com>",
		"X-Mailer: Foxmail 7.2.25.228[cn]",
		"MIME-Version: 1.0",
		`Content-Type: text/plain; charset="GBK"`,
		"Content-Transfer-Encoding: quoted-printable",
	}, qpBody(mustEncode(t, gbk, "您好：\n\n"+
		"本人是贵公司“天天看”APP的用户，依据《个人信息保护法》第四十七条，"+
		"请删除贵方收集的我的全部个人信息，包括设备标识和使用记录。\n\n"+
		"我的手机OAID：1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9\n\n"+
		"请在十五个工作日内处理并回复。\n\n李雷\n2025年3月3日\n"), "\n"))

	out["02-gb18030-withdraw.eml"] = msg("\r\n", []string{
		"From: " + bWord("GB18030", mustEncode(t, gb18030, "王芳")) + " <wangfang@example.cn>",
		"To: privacy@veil.example",
		"Subject: " + qWord("GB18030", mustEncode(t, gb18030, "撤回同意：关闭个性化广告")),
		"Date: Tue, 11 Mar 2025 21:40:03 +0800",
		"Message-ID: <5f1c2a9e.b7@example.cn>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=GB18030",
		"Content-Transfer-Encoding: 8bit",
	}, string(mustEncode(t, gb18030, crlf("你好，\n\n"+
		"我于2024年注册时同意了个性化广告推送，现撤回同意😊。"+
		"撤回同意后，请删除基于该同意收集的数据。\n\n"+
		"设备信息：\nIMEI：490154203237518\n广告标识符：0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n\n王芳\n"))))

	out["03-utf8-copy.eml"] = msg("\n", []string{
		"From: " + qWord("UTF-8", utf8raw("张伟")) + " <zhang.wei@example.org>",
		"To: privacy@veil.example",
		"Subject: " + bWord("UTF-8", utf8raw("申请获取本人个人信息副本")),
		"Date: Wed, 19 Mar 2025 08:02:41 +0000",
		"Message-ID: <CAF3x9q+ZHANG.copy@mail.example.org>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=UTF-8",
		"Content-Transfer-Encoding: base64",
	}, b64Body(utf8raw("你好，\n\n根据《个人信息保护法》第四十五条，我申请获取贵公司处理的我的个人信息副本，"+
		"请以电子邮件方式发送。\n\n安卓设备 Android ID: 9F3B2A1C4D5E6F70\n\n张伟\n"), "\n"))

	out["04-english-access.eml"] = msg("\r\n", []string{
		`From: "Emily Carter" <Emily.Carter@Example.co.uk>`,
		"To: Privacy Team <privacy@veil.example>",
		"Subject: Subject access request",
		"Date: Thu, 20 Mar 2025 14:31:07 +0000",
		"Message-ID: <0100018e5a7b-sar@email.example.co.uk>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=us-ascii",
		"Content-Transfer-Encoding: 7bit",
	}, crlf("Dear Data Protection Officer,\n\n"+
		"Under Article 15 GDPR I am requesting access to the personal data you\n"+
		"process about me, the purposes, the recipients and the retention period.\n"+
		"Please do not delete anything while this request is pending.\n\n"+
		"The advertising identifier of my iPhone is:\n"+
		"IDFA: 6D92078A-8246-4BA4-AE5B-76104861E7DC\n\n"+
		"Kind regards,\nEmily Carter\n"))

	out["05-html-only.eml"] = msg("\n", []string{
		"From: Jane Doe <jane.doe@example.com>",
		"To: privacy@veil.example",
		"Subject: Correction of my personal data",
		"Date: Fri, 21 Mar 2025 10:00:00 -0500",
		"Message-ID: <html-only-7731@example.com>",
		"MIME-Version: 1.0",
		"Content-Type: text/html; charset=utf-8",
		"Content-Transfer-Encoding: quoted-printable",
	}, qpBody(utf8raw(`<!DOCTYPE html><html><head><meta charset="utf-8">`+
		`<title>Ignore this title</title>`+
		`<style type="text/css">p { font-family: Arial, sans-serif; }</style>`+
		`<script>alert('tracking')</script></head>`+"\n"+
		`<body><p>Hello,</p>`+"\n"+
		`<p>The phone number in my profile is wrong. Please rectify&nbsp;it to `+
		`+44&nbsp;20&nbsp;7946&nbsp;0000 &amp; confirm &lt;by email&gt;.</p>`+"\n"+
		`<div>My Android advertising ID (GAID): <b>38400000-8CF0-11BD-B23E-10B96E40000D</b></div>`+"\n"+
		`<p>Thanks,<br>Jane</p><!-- sent from a web form --></body></html>`+"\n"), "\n"))

	altBoundary := "000000000000a1b2c3d4e5f6"
	out["06-alternative.eml"] = msg("\r\n", []string{
		"From: " + bWord("UTF-8", utf8raw("刘洋")) + " <liuyang@example.net>",
		"To: privacy@veil.example",
		"Subject: " + qWord("UTF-8", utf8raw("数据可携带：请把我的数据转移到新服务商")),
		"Date: Sat, 22 Mar 2025 16:20:00 +0800",
		"Message-ID: <CAJ+alt.0322@mail.example.net>",
		"MIME-Version: 1.0",
		`Content-Type: multipart/alternative; boundary="` + altBoundary + `"`,
	}, crlf("--"+altBoundary+"\n"+
		"Content-Type: text/plain; charset=\"UTF-8\"\n"+
		"Content-Transfer-Encoding: quoted-printable\n\n")+
		qpBody(utf8raw("请将我的个人信息转移至以下服务商：example-new.cn\n"+
			"设备ID：A3F1C2D4-5E6F-4789-9ABC-DEF012345678\n"), "\r\n")+
		crlf("--"+altBoundary+"\n"+
			"Content-Type: text/html; charset=\"UTF-8\"\n"+
			"Content-Transfer-Encoding: quoted-printable\n\n")+
		qpBody(utf8raw(`<div dir="ltr"><p>请将我的个人信息转移至以下服务商：example-new.cn</p>`+
			`<p>设备ID：A3F1C2D4-5E6F-4789-9ABC-DEF012345678</p>`+
			`<p style="color:#999">HTML-only footer</p></div>`+"\n"), "\r\n")+
		crlf("--"+altBoundary+"--\n"))

	fwdBoundary := "Apple-Mail=_5E3B7C1A-2F0D-4C6B-9E58-1A2B3C4D5E6F"
	out["07-forwarded.eml"] = msg("\n", []string{
		"From: Tom Baker <tom.baker@example.net>",
		"To: privacy@veil.example",
		"Subject: Fwd: My earlier request",
		"Date: Mon, 24 Mar 2025 12:00:00 +0000",
		"Message-ID: <F0A1B2C3-fwd@example.net>",
		"MIME-Version: 1.0 (Mac OS X Mail 16.0)",
		`Content-Type: multipart/mixed; boundary="` + fwdBoundary + `"`,
	}, "--"+fwdBoundary+"\n"+
		"Content-Type: text/plain; charset=us-ascii\n"+
		"Content-Transfer-Encoding: 7bit\n\n"+
		"Hi, I sent the message below three weeks ago and have had no answer.\n"+
		"Forwarding it again.\n\nTom\n\n"+
		"--"+fwdBoundary+"\n"+
		"Content-Type: message/rfc822\n"+
		"Content-Disposition: inline\n\n"+
		"From: Tom Baker <tom.baker@example.net>\n"+
		"To: privacy@veil.example\n"+
		"Subject: Request to erase my data\n"+
		"Date: Mon, 3 Mar 2025 08:30:00 +0000\n"+
		"Message-ID: <original-erase@example.net>\n"+
		"Content-Type: text/plain; charset=us-ascii\n\n"+
		"Please erase all personal data you hold about me (right to be forgotten).\n"+
		"GAID: 7c9e6679-7425-40de-944b-e07fc1f90ae7\n\n"+
		"--"+fwdBoundary+"--\n")

	pdfBoundary := "----=_NextPart_000_0012_01DB9A2F.6C1E4B30"
	out["08-pdf-attachment.eml"] = msg("\r\n", []string{
		"From: " + bWord("UTF-8", utf8raw("周杰")) + " <zhoujie@example.com>",
		"To: privacy@veil.example",
		"Subject: " + bWord("UTF-8", utf8raw("注销账号申请")),
		"Date: Tue, 25 Mar 2025 09:45:12 +0800",
		"Message-ID: <000f01db9a2f$6c1e4b30$44c4e190$@example.com>",
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="` + pdfBoundary + `"`,
		"X-Mailer: Microsoft Outlook 16.0",
	}, crlf("This is a multi-part message in MIME format.\n\n"+
		"--"+pdfBoundary+"\n"+
		"Content-Type: text/plain; charset=\"utf-8\"\n"+
		"Content-Transfer-Encoding: base64\n\n")+
		b64Body(utf8raw("您好，\n\n我申请注销我在贵平台的账号（手机号138****5678），"+
			"并删除账号相关的全部数据。身份证明见附件。\n\n周杰\n"), "\r\n")+
		crlf("\n--"+pdfBoundary+"\n"+
			"Content-Type: application/pdf; name=\""+bWord("UTF-8", utf8raw("身份证明.pdf"))+"\"\n"+
			"Content-Transfer-Encoding: base64\n"+
			"Content-Disposition: attachment; filename*=UTF-8''%E8%BA%AB%E4%BB%BD%E8%AF%81%E6%98%8E.pdf\n\n")+
		b64Body([]byte(fakePDF), "\r\n")+
		crlf("\n--"+pdfBoundary+"--\n"))

	// Raw 8-bit UTF-8 in the header, as many current clients send it.
	out["09-complaint-zh.eml"] = msg("\n", []string{
		"From: 赵敏 <zhaomin@example.com.cn>",
		"To: privacy@veil.example",
		"Subject: 投诉：APP未经同意读取通讯录",
		"Date: Wed, 26 Mar 2025 19:12:44 +0800",
		"Message-ID: <tencent_3F2A1B@qq.example.com>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
	}, "我要投诉贵公司“快剪”APP：安装后未经我同意即读取通讯录并上传。\n"+
		"我曾要求删除这些数据，至今未获处理。\n\n设备号：356938035643809\n\n赵敏\n")

	out["10-appeal.eml"] = msg("\n", []string{
		"From: " + bWord("UTF-8", utf8raw("陈静")) + " <chenjing@example.org>",
		"To: Veil Privacy <privacy@veil.example>",
		"Subject: Re: " + bWord("UTF-8", utf8raw("您的删除请求已被拒绝")),
		"Date: Thu, 3 Apr 2025 11:20:00 +0800",
		"Message-ID: <CAH=appeal.0403@mail.example.org>",
		"In-Reply-To: <req-R-2025-0320-17@veil.example>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=UTF-8",
		"Content-Transfer-Encoding: quoted-printable",
	}, qpBody(utf8raw("我不同意这个处理结果，现提出申诉。我并未使用该账号进行任何交易，不存在法定保留义务。\n\n"+
		"陈静\n\n"+
		"在 2025年4月2日 10:02，Veil 隐私团队 <privacy@veil.example> 写道：\n"+
		"> 您好，\n"+
		"> 您于3月20日提交的删除请求（编号 R-2025-0320-17）因法定保留义务被拒绝。\n"+
		"> 如对结果有异议，可回复本邮件。\n"), "\n"))

	out["11-hello.eml"] = msg("\n", []string{
		"From: visitor@example.com",
		"To: privacy@veil.example",
		"Subject: hello",
		"Date: Fri, 4 Apr 2025 07:00:00 +0000",
		"Message-ID: <hello-1@example.com>",
	}, "hello\n\nIs this address monitored?\n")

	out["12-big5.eml"] = msg("\r\n", []string{
		"From: " + bWord("Big5", mustEncode(t, big5, "林志明")) + " <lin.zhiming@example.com.tw>",
		"To: privacy@veil.example",
		"Subject: " + bWord("Big5", mustEncode(t, big5, "請刪除我的個人資料")),
		"Date: Sat, 5 Apr 2025 15:03:00 +0800",
		"Message-ID: <20250405150300.big5@example.com.tw>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=big5",
		"Content-Transfer-Encoding: 8bit",
	}, string(mustEncode(t, big5, crlf("您好：\n\n本人依據個人資料保護法第十一條，請求刪除貴公司所保存之本人個人資料。\n\n"+
		"手機廣告識別碼（OAID）：5d41402a-bc4b-4a76-b971-9d911017c592\n\n林志明 敬上\n"))))

	outer, alt, rel := "outer-7d1f", "alt-7d1f", "rel-7d1f"
	out["13-nested-latin1.eml"] = msg("\n", []string{
		"From: " + qWord("ISO-8859-1", mustEncode(t, latin1, "Jürgen Müller")) + " <Juergen.Mueller@example.de>",
		"To: privacy@veil.example",
		"Subject: " + qWord("ISO-8859-1", mustEncode(t, latin1, "Widerruf meiner Einwilligung / opt-out")),
		"Date: Sun, 6 Apr 2025 18:30:00 +0200",
		"Message-ID: <nested.0406@example.de>",
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="` + outer + `"`,
	}, "--"+outer+"\n"+
		`Content-Type: multipart/alternative; boundary="`+alt+`"`+"\n\n"+
		"--"+alt+"\n"+
		"Content-Type: text/plain; charset=ISO-8859-1\n"+
		"Content-Transfer-Encoding: quoted-printable\n\n"+
		qpBody(mustEncode(t, latin1, "Sehr geehrte Damen und Herren,\n\n"+
			"hiermit widerrufe ich meine Einwilligung zur Verarbeitung meiner Daten "+
			"für personalisierte Werbung (opt-out).\n\nMit freundlichen Grüßen\nJürgen Müller\n"), "\n")+
		"--"+alt+"\n"+
		`Content-Type: multipart/related; boundary="`+rel+`"; type="text/html"`+"\n\n"+
		"--"+rel+"\n"+
		"Content-Type: text/html; charset=ISO-8859-1\n"+
		"Content-Transfer-Encoding: quoted-printable\n\n"+
		qpBody(mustEncode(t, latin1, `<p>Sehr geehrte Damen und Herren,</p><p>hiermit widerrufe ich meine `+
			`Einwilligung (opt-out).</p><p>Mit freundlichen Grüßen<br>Jürgen Müller</p>`+
			`<img src="cid:logo@example.de" alt="">`+"\n"), "\n")+
		"--"+rel+"\n"+
		"Content-Type: image/png; name=\"logo.png\"\n"+
		"Content-Transfer-Encoding: base64\n"+
		"Content-ID: <logo@example.de>\n"+
		"Content-Disposition: inline; filename=\"logo.png\"\n\n"+
		onePixelPNG+"\n"+
		"--"+rel+"--\n\n"+
		"--"+alt+"--\n\n"+
		"--"+outer+"--\n")

	// Encoded-words split in the middle of a GBK character, as some
	// webmail systems do.
	subj := mustEncode(t, gbk, "更正我的手机号码")
	out["14-split-gbk-words.eml"] = msg("\n", []string{
		"From: sun.li@example.cn",
		"To: privacy@veil.example",
		"Subject: " + bWord("gb2312", subj[:5]) + "\n " + bWord("gb2312", subj[5:]),
		"Date: Mon, 7 Apr 2025 10:10:10 +0800",
		"Message-ID: <split.0407@example.cn>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=gb2312",
		"Content-Transfer-Encoding: base64",
	}, b64Body(mustEncode(t, gbk, "我的手机号码登记错误，请更正为13912345678。\n孙立\n"), "\n"))

	out["15-unknown-charset.eml"] = msg("\n", []string{
		"From: " + bWord("x-mac-klingon", utf8raw("小周")) + " <xiaozhou@example.com>",
		"To: privacy@veil.example",
		"Subject: " + bWord("x-mac-klingon", utf8raw("个人数据查询")),
		"Date: Tue, 8 Apr 2025 09:00:00 +0800",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=x-mac-klingon",
		"Content-Transfer-Encoding: 8bit",
	}, "请帮我查询贵司保存的我的个人数据。\n")

	return out
}
