package mailin

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Intents, as named by the request API (SPEC §5, POST /v1/requests).
const (
	IntentAccess          = "access"
	IntentCopy            = "copy"
	IntentPortability     = "portability"
	IntentCorrect         = "correct"
	IntentDelete          = "delete"
	IntentWithdrawConsent = "withdraw_consent"
	IntentCancelAccount   = "cancel_account"
	IntentComplaint       = "complaint"
	IntentAppeal          = "appeal"
)

type intentRule struct {
	intent string
	re     *regexp.Regexp
}

// intentRules is ordered by priority: when one piece of text matches
// several rules, the first wins. People rarely ask for one thing in
// isolation ("please delete my data and close my account"), so the order
// encodes which request subsumes which:
//
//  1. appeal            — contests an earlier outcome; it necessarily
//     mentions that earlier request ("your refusal to delete…"), which must
//     not be mistaken for a fresh one.
//  2. complaint         — likewise about how another request was handled.
//  3. cancel_account    — closing the account (注销) entails deleting its
//     data and ending consent, so it outranks both: "注销账号并删除数据" is a
//     cancellation.
//  4. withdraw_consent  — under PIPL art. 47 a withdrawal itself obliges
//     deletion, so "撤回同意，删除已收集的数据" is a withdrawal, not a bare
//     delete.
//  5. delete
//  6. portability       — a transfer is a copy sent elsewhere.
//  7. correct           — you look at data before you fix it.
//  8. copy              — a copy is access plus a copy.
//  9. access
//
// Patterns run on text that is NFKC-folded (full-width letters and colons
// become ASCII), lower-cased and folded from traditional to simplified
// Chinese (see foldText), so each needs only one spelling.
var intentRules = [...]intentRule{
	{IntentAppeal, regexp.MustCompile(`申诉|复核|\bappeal`)},
	// "report" alone is too often a noun ("send me a report of my data");
	// only its verb forms count as a complaint.
	{IntentComplaint, regexp.MustCompile(`投诉|举报|\bcomplain|\breport(?:ing|ed)?\s+(?:a|an|this|that|the|your|you\s+to)\s|\bto\s+report\b|\bi\s+(?:am\s+)?report(?:ing)?\b`)},
	{IntentCancelAccount, regexp.MustCompile(`注销|(?:删除|关闭|停用|取消)(?:我的|本人的?)?(?:用户)?(?:账号|帐号|账户|帐户)|\b(?:cancel|close|delete|deactivate|terminate|remove)\s+(?:of\s+)?(?:my\s+|the\s+|this\s+)?(?:user\s+)?account\b|\baccount\s+(?:cancellation|closure|deletion|termination)`)},
	{IntentWithdrawConsent, regexp.MustCompile(`(?:撤回|撤销|取消)(?:我的|本人的?|对\S{0,10}的)?(?:同意|授权)|(?:关闭|拒绝|退出)个性化|\b(?:withdraw|withdrawing|withdrawal|revoke|revoking|revocation)\b(?:\s+\S+){0,4}?\s+consent|\bconsent\s+(?:is\s+|be\s+)?(?:withdrawn|revoked)|\bopt(?:ing)?[\s-]?out\b|\bunsubscribe`)},
	{IntentDelete, regexp.MustCompile(`删除|清除|\bdelet(?:e|ion|ing)|\beras(?:e|ure|ing)|\bremove\s+(?:all\s+)?(?:of\s+)?(?:my|our)\s+(?:personal\s+)?(?:data|information|info|details)|right\s+to\s+be\s+forgotten`)},
	{IntentPortability, regexp.MustCompile(`转移|迁移|\bportab|\btransfer\s+(?:all\s+)?(?:of\s+)?my\s+(?:personal\s+)?(?:data|information)`)},
	// "correct" is deliberately unanchored so that "my address is
	// incorrect" is read as the rectification request it is.
	{IntentCorrect, regexp.MustCompile(`更正|修改|纠正|correct|\brectif|\bupdate\s+my\s+(?:personal\s+)?(?:data|information|details|address|name|e-?mail|phone)`)},
	{IntentCopy, regexp.MustCompile(`副本|复制|\bcop(?:y|ies)\b`)},
	{IntentAccess, regexp.MustCompile(`访问|查询|查阅|查看(?:我的|本人的?)?(?:个人)?(?:信息|数据|资料)|\baccess\b|\bdsar\b`)},
}

// tradToSimp folds the traditional characters that occur in the keywords,
// device labels and reply markers, so Big5 mail from Taiwan and Hong Kong
// classifies like GB mail without duplicating every pattern.
var tradToSimp = strings.NewReplacer(
	"刪", "删", "複", "复", "製", "制", "訪", "访", "問", "问", "詢", "询",
	"閱", "阅", "轉", "转", "遷", "迁", "糾", "纠", "銷", "销", "權", "权",
	"註", "注", "賬", "账", "帳", "帐", "號", "号", "戶", "户", "關", "关",
	"閉", "闭", "訴", "诉", "舉", "举", "報", "报", "個", "个", "資", "资",
	"訊", "讯", "數", "数", "據", "据", "廣", "广", "標", "标", "識", "识",
	"設", "设", "備", "备", "為", "为", "發", "发", "郵", "邮", "寫", "写",
	"覆", "复", "時", "时", "間", "间", "題", "题", "見", "见", "觀", "观",
	"別", "别", "碼", "码", "機", "机", "請", "请", "錄", "录", "讀", "读",
)

// classifyWindow bounds how much text Classify reads. People state their
// request in the first lines; beyond that a body is a pasted log or a long
// thread, and running nine patterns over megabytes of it would let one
// large mail stall intake for seconds.
const classifyWindow = 64 << 10

// prefix returns at most n bytes of s, cut at a rune boundary.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// foldText prepares text for matching; see intentRules.
func foldText(s string) string {
	return tradToSimp.Replace(strings.ToLower(norm.NFKC.String(s)))
}

// replyPrefix spots subjects inherited from an earlier message.
var replyPrefix = regexp.MustCompile(`^\s*(?:re|fwd?|aw|wg|tr|sv|vs|答复|回复|转发)\s*(?:\[\d+\])?\s*:`)

// Classify returns the request type that subject and body express, or ""
// when none is recognisable.
//
// Text is consulted in order of how much it speaks for the sender now: a
// fresh subject first (people state their request there), then the new
// body text, then quoted and forwarded material. A subject starting "Re:" or
// "Fwd:" was written by someone else, often us, so for those the new body
// text goes first: replying "我要申诉" to "Re: 您的删除请求已被拒绝" is an appeal.
// Within one piece of text, intentRules' priority order decides.
func Classify(subject, body string) string {
	subj := foldText(prefix(subject, classifyWindow))
	fresh, quoted := splitQuoted(foldText(prefix(body, classifyWindow)))
	order := [3]string{subj, fresh, quoted}
	if replyPrefix.MatchString(subj) {
		order = [3]string{fresh, subj, quoted}
	}
	for _, text := range order {
		if in := matchIntent(text); in != "" {
			return in
		}
	}
	return ""
}

func matchIntent(text string) string {
	if strings.TrimSpace(text) == "" {
		return ""
	}
	for _, r := range intentRules {
		if r.re.MatchString(text) {
			return r.intent
		}
	}
	return ""
}

var (
	// forwardMarker opens a block of quoted or forwarded material written by
	// someone else: Gmail's and Outlook's separators, Apple Mail's "Begin
	// forwarded message", and the attribution line before a quoted reply.
	forwardMarker = regexp.MustCompile(`^(?:-{2,}\s*(?:forwarded message|original message|转发的?邮件|原始邮件|原邮件|邮件原文|转寄的?邮件)\s*-*|begin forwarded message:?|on\b.*\bwrote:|在.*写道:|.*\bschrieb\b.*:)$`)
	// headerBlockStart and headerBlockNext recognise Outlook-style forwards
	// ("From: …" directly followed by "Sent: …" or similar), which carry no
	// separator line of their own.
	headerBlockStart = regexp.MustCompile(`^(?:from|发件人|寄件者|寄件人)\s*:`)
	headerBlockNext  = regexp.MustCompile(`^(?:sent|date|to|cc|subject|发送时间|时间|日期|收件人|收件者|抄送|主题|主旨|寄件日期)\s*:`)
)

// splitQuoted separates the sender's new words from what they quote. Lines
// beginning with ">" are quotes wherever they appear; everything from the
// first forward or attribution marker on is treated as quoted, since that is
// how every mainstream client lays out replies and forwards.
func splitQuoted(text string) (fresh, quoted string) {
	lines := strings.Split(text, "\n")
	var f, q strings.Builder
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if isForwardStart(line, lines[i+1:]) {
			for _, rest := range lines[i:] {
				q.WriteString(strings.TrimLeft(strings.TrimSpace(rest), "> "))
				q.WriteByte('\n')
			}
			break
		}
		if strings.HasPrefix(line, ">") {
			q.WriteString(strings.TrimLeft(line, "> "))
			q.WriteByte('\n')
			continue
		}
		f.WriteString(line)
		f.WriteByte('\n')
	}
	return f.String(), q.String()
}

func isForwardStart(line string, rest []string) bool {
	if line == "" {
		return false
	}
	if forwardMarker.MatchString(line) {
		return true
	}
	if !headerBlockStart.MatchString(line) {
		return false
	}
	for _, next := range rest {
		if next = strings.TrimSpace(next); next != "" {
			return headerBlockNext.MatchString(next)
		}
	}
	return false
}
