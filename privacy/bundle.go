package privacy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The copy of a subject's data (R9) as the domain sees it: how an ad record
// looks in the bundle, which CSV columns it has (the policy's field table,
// in policy order, so the columns read like the policy), and the
// human-readable summary in Chinese and English. Writing the ZIP is the
// export function's; nothing here does I/O.

// ExportedRecord is an ad record as its subject receives it: every kept
// field in clear, the sealed ones (raw device ids, Wi-Fi names, location…)
// opened with the subject's key.
type ExportedRecord struct {
	ID           string                     `json:"id"`
	ReceivedAt   time.Time                  `json:"received_at"`
	AppID        string                     `json:"app_id"`
	Platform     Platform                   `json:"platform"`
	Region       string                     `json:"region"`
	Personalized bool                       `json:"personalized"`
	Purposes     []Purpose                  `json:"purposes"`
	Retention    string                     `json:"retention"`
	ExpiresAt    time.Time                  `json:"expires_at"`
	Isolated     string                     `json:"isolated,omitempty"`
	Fields       map[string]json.RawMessage `json:"fields"`
	CoarseGeo    *GeoPoint                  `json:"coarse_geo,omitempty"`
}

// ExportRecord merges a record's plain fields with its opened sealed ones.
// A sealed value wins over a plain one of the same path (there is none by
// construction; the sealed one is the original).
func ExportRecord(r *AdRecord, sealed SealedFields) ExportedRecord {
	fields := make(map[string]json.RawMessage, len(r.Fields)+len(sealed))
	for k, v := range r.Fields {
		fields[k] = v
	}
	for k, v := range sealed {
		fields[k] = v
	}
	return ExportedRecord{ID: r.ID, ReceivedAt: r.ReceivedAt.UTC(), AppID: r.AppID, Platform: r.Platform, Region: r.Region,
		Personalized: r.Personalized, Purposes: r.Purposes, Retention: r.Retention, ExpiresAt: r.ExpiresAt.UTC(),
		Isolated: r.Isolated, Fields: fields, CoarseGeo: r.CoarseGeo}
}

// recordMeta are the columns before the field table's.
var recordMeta = [...]string{"id", "received_at", "app_id", "platform", "region", "personalized", "purposes",
	"retention", "expires_at", "isolated"}

// RecordColumns is the CSV header of ad records: the record's own columns,
// then one per row of the policy's field table.
func RecordColumns() []string {
	out := append([]string(nil), recordMeta[:]...)
	for _, f := range fieldTable {
		out = append(out, f.Path)
	}
	return out
}

// Row is the CSV row of an exported record, aligned with RecordColumns.
// Strings are unquoted; objects, arrays and numbers stay JSON text.
func (e ExportedRecord) Row() []string { return e.AppendRow(nil) }

// AppendRow appends the row to out (a reused slice, for bundles of many
// records).
func (e ExportedRecord) AppendRow(out []string) []string {
	var ps strings.Builder
	for i, p := range e.Purposes {
		if i > 0 {
			ps.WriteByte(';')
		}
		ps.WriteString(string(p))
	}
	out = append(out, e.ID, e.ReceivedAt.Format(time.RFC3339), e.AppID, string(e.Platform), e.Region,
		strconv.FormatBool(e.Personalized), ps.String(), e.Retention, e.ExpiresAt.Format(time.RFC3339), SafeCell(e.Isolated))
	out = slices.Grow(out, len(fieldTable))
	for i := range fieldTable {
		out = append(out, CSVCell(e.Fields[fieldTable[i].Path]))
	}
	return out
}

// CSVCell renders a JSON value for a spreadsheet: a string as its text,
// anything else as compact JSON. Text that a spreadsheet would run as a
// formula (=, +, -, @ and control characters first) is prefixed with an
// apostrophe: values come from the SDK, and a bundle is opened by its
// subject, who must not be attacked through their own data.
func CSVCell(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		// Most values have no escapes: the text between the quotes.
		if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
			return SafeCell(string(raw[1 : len(raw)-1]))
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return SafeCell(s)
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return SafeCell(string(raw))
	}
	if raw[0] == '[' || raw[0] == '{' {
		return SafeCell(b.String())
	}
	return b.String() // numbers and booleans: "-3" is a number, not a formula
}

// SafeCell neutralises text a spreadsheet would evaluate.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Names returns a category's name in Chinese and English, as notices and
// summaries print it.
func (c Category) Names() (zh, en string) {
	if n, ok := categoryNames[c]; ok {
		return n[0], n[1]
	}
	return string(c), string(c)
}

var categoryNames = map[Category][2]string{
	CatDeviceID:    {"设备标识符", "device identifiers"},
	CatDeviceInfo:  {"设备信息", "device information"},
	CatNetwork:     {"网络信息", "network information"},
	CatLocale:      {"语言与地区", "language and region"},
	CatOS:          {"操作系统信息", "operating system information"},
	CatApp:         {"应用信息", "app information"},
	CatAppList:     {"应用安装列表", "installed app list"},
	CatSensors:     {"传感器信息", "sensor data"},
	CatLocation:    {"精确地理位置（敏感个人信息）", "precise location (sensitive)"},
	CatAccount:     {"账号与联系信息", "account and contact information"},
	CatConsent:     {"同意记录", "consent records"},
	CatRequests:    {"权利请求记录", "rights requests"},
	CatNotices:     {"通知记录", "notices sent"},
	CatSecurityLog: {"网络安全日志", "network security logs"},
}

// Names returns a purpose's name in Chinese and English.
func (p Purpose) Names() (zh, en string) {
	if n, ok := purposeNames[p]; ok {
		return n[0], n[1]
	}
	return string(p), string(p)
}

var purposeNames = map[Purpose][2]string{
	PurposeFraud:           {"反作弊", "fraud prevention"},
	PurposeAttribution:     {"广告归因", "attribution"},
	PurposeCreative:        {"广告素材适配", "fitting ad creatives"},
	PurposeLocale:          {"语言地区定向", "locale targeting"},
	PurposeOS:              {"系统版本定向", "OS targeting"},
	PurposePersonalization: {"个性化广告", "personalized ads"},
	PurposeConsentRecords:  {"同意管理", "consent management"},
	PurposeRights:          {"响应权利请求", "answering rights requests"},
	PurposeNotices:         {"发送通知", "notices"},
	PurposeCompliance:      {"合规留存", "legal compliance"},
	PurposeSecurity:        {"安全事件处置", "security incident response"},
	PurposeStatistics:      {"去标识化统计", "de-identified statistics"},
	PurposeAccounts:        {"账号管理", "account management"},
}

// BundleSection is one collection in the bundle.
type BundleSection struct {
	Name  string   // "ad_records"
	Zh    string   // what it is, in Chinese
	En    string   // and in English
	Count int      // documents in it
	Files []string // the files that hold it
}

// BundleSummary is what summary.txt says.
type BundleSummary struct {
	RequestID   string
	SubjectHint string
	GeneratedAt time.Time
	Sections    []BundleSection
	FirstRecord *time.Time
	LastRecord  *time.Time
	Categories  []Category       // of the data held, in policy order
	Purposes    []Purpose        // of the data held, in policy order
	Retention   []RetentionClass // the classes of what is held
	Recipients  []string         // partners the data was disclosed to
	Contact     string           // the privacy mailbox
}

// AddCategory and AddPurpose collect what the data held is and is for,
// keeping policy order whatever order records come in.
func (s *BundleSummary) AddCategory(c Category) {
	if !slices.Contains(s.Categories, c) {
		s.Categories = append(s.Categories, c)
		order := Categories()
		slices.SortFunc(s.Categories, func(a, b Category) int { return slices.Index(order, a) - slices.Index(order, b) })
	}
}

// AddPurpose: see AddCategory.
func (s *BundleSummary) AddPurpose(p Purpose) {
	if !slices.Contains(s.Purposes, p) {
		s.Purposes = append(s.Purposes, p)
		order := Purposes()
		slices.SortFunc(s.Purposes, func(a, b Purpose) int { return slices.Index(order, a) - slices.Index(order, b) })
	}
}

// Seen notes an ad record's time.
func (s *BundleSummary) Seen(at time.Time) {
	at = at.UTC()
	if s.FirstRecord == nil || at.Before(*s.FirstRecord) {
		s.FirstRecord = &at
	}
	if s.LastRecord == nil || at.After(*s.LastRecord) {
		s.LastRecord = &at
	}
}

// Text is summary.txt: Chinese first, then English, plain text a person
// reads without tools.
func (s BundleSummary) Text() string {
	var b strings.Builder
	day := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.DateOnly)
	}
	names := func(zh bool, list []string) string {
		if len(list) == 0 {
			if zh {
				return "无"
			}
			return "none"
		}
		if zh {
			return strings.Join(list, "、")
		}
		return strings.Join(list, ", ")
	}
	var catZh, catEn, purZh, purEn []string
	for _, c := range s.Categories {
		z, e := c.Names()
		catZh, catEn = append(catZh, z), append(catEn, e)
	}
	for _, p := range s.Purposes {
		z, e := p.Names()
		purZh, purEn = append(purZh, z), append(purEn, e)
	}
	gen := s.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC")

	fmt.Fprintf(&b, "个人信息副本说明\n================\n\n")
	fmt.Fprintf(&b, "请求编号：%s\n主体：%s\n生成时间：%s\n\n", s.RequestID, s.SubjectHint, gen)
	fmt.Fprintf(&b, "本压缩包包含我们持有的与您有关的全部个人信息。每类信息均提供 JSON（机器可读）和 CSV（可用表格软件打开）两种格式。\n\n内容：\n")
	for _, sec := range s.Sections {
		fmt.Fprintf(&b, "  - %s：%d 条（%s）\n", sec.Zh, sec.Count, strings.Join(sec.Files, "、"))
	}
	fmt.Fprintf(&b, "\n广告请求记录的时间范围：%s 至 %s\n", day(s.FirstRecord), day(s.LastRecord))
	fmt.Fprintf(&b, "信息类别：%s\n", names(true, catZh))
	fmt.Fprintf(&b, "处理目的：%s\n", names(true, purZh))
	fmt.Fprintf(&b, "\n保存期限：\n")
	for _, c := range s.Retention {
		fmt.Fprintf(&b, "  - %s：%d 天（%s）\n", c.Name, int(c.Period/Day), retentionActionZh(c.Action))
	}
	fmt.Fprintf(&b, "\n接收方（经去标识化后提供）：%s\n", names(true, s.Recipients))
	fmt.Fprintf(&b, "\n加密保存的字段（设备标识符原值、Wi-Fi 名称、精确位置等）已用您的专属密钥解密后放入本副本。\n")
	fmt.Fprintf(&b, "\n如何投诉：如您认为我们的处理不当，可发送邮件至 %s，或通过隐私中心 / API 提交类型为 complaint 的请求，我们将在 15 日内答复；您也可以向网信部门等监管机关投诉举报。\n", s.Contact)
	fmt.Fprintf(&b, "本副本的下载链接到期后，我们将删除本副本。\n\n")

	fmt.Fprintf(&b, "About this copy of your personal information\n============================================\n\n")
	fmt.Fprintf(&b, "Request: %s\nSubject: %s\nGenerated: %s\n\n", s.RequestID, s.SubjectHint, gen)
	fmt.Fprintf(&b, "This archive holds all the personal information we hold about you. Each collection is given as JSON (machine-readable) and CSV (opens in a spreadsheet).\n\nContents:\n")
	for _, sec := range s.Sections {
		fmt.Fprintf(&b, "  - %s: %d (%s)\n", sec.En, sec.Count, strings.Join(sec.Files, ", "))
	}
	fmt.Fprintf(&b, "\nAd requests received from %s to %s\n", day(s.FirstRecord), day(s.LastRecord))
	fmt.Fprintf(&b, "Categories: %s\n", names(false, catEn))
	fmt.Fprintf(&b, "Purposes: %s\n", names(false, purEn))
	fmt.Fprintf(&b, "\nHow long we keep it:\n")
	for _, c := range s.Retention {
		fmt.Fprintf(&b, "  - %s: %d days (%s)\n", c.Name, int(c.Period/Day), c.Action)
	}
	fmt.Fprintf(&b, "\nRecipients (de-identified data only): %s\n", names(false, s.Recipients))
	fmt.Fprintf(&b, "\nFields we keep encrypted (raw device ids, Wi-Fi names, precise location…) were decrypted with your own key for this copy.\n")
	fmt.Fprintf(&b, "\nHow to complain: mail %s, or file a request of type complaint through the privacy center or the API; we answer within 15 days. You may also complain to the cyberspace administration or another regulator.\n", s.Contact)
	fmt.Fprintf(&b, "We delete this copy when its download link expires.\n")
	return b.String()
}

func retentionActionZh(a RetentionAction) string {
	if a == RetainAnonymize {
		return "到期后匿名化为统计数据"
	}
	return "到期后删除"
}
