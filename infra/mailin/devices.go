package mailin

import (
	"regexp"
	"strings"
)

// deviceLabel finds a labelled device identifier. Only labelled values are
// taken: a bare UUID in a mail could be an order number or a ticket id, and
// attaching someone's request to the wrong device subject is worse than
// asking them for the id. The label may carry a parenthesised gloss
// ("OAID（开放匿名设备标识符）：…"), a word like "number"/"号码", and
// ":", "=", "is" or "为" before the value.
//
// It runs on foldText output, so labels are lower case and simplified.
var deviceLabel = regexp.MustCompile(
	`(device:(?:oaid|gaid|idfa|imei|android_id):|\boaid|\bidfa|\bgaid|\bimei|\bandroid[\s_-]?id|安卓\s*id|\badvertising[\s_-]?id|广告\s*(?:id|标识符?|识别码)|设备\s*(?:id|标识符?|识别码|号)|\bdevice[\s_-]?id)` +
		`(?:\s*(?:number|no\.?|#|号码|号|码|值))?` +
		`\s*(?:[(（][^)）\n]{0,40}[)）]\s*)?(?:is\s+|为|是)?\s*[:=]?\s*(?:is\s+|为|是)?\s*["'“‘<\[(]?` +
		`(\d{2}[ -]\d{6}[ -]\d{6}[ -]\d|[0-9a-z][0-9a-z-]*)`)

// deviceWindow bounds the text searched for device ids, for the same reason
// as classifyWindow; it is larger because ids often sit in a signature or a
// forwarded original further down.
const deviceWindow = 256 << 10

// maxDevices caps the result: nobody owns more devices than this, and a
// mail listing thousands of ids is not a request about its sender.
const maxDevices = 20

// extractDevices returns the device subjects ("device:<type>:<id>") named in
// body, in order of first appearance, without duplicates.
func extractDevices(body string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range deviceLabel.FindAllStringSubmatch(foldText(prefix(body, deviceWindow)), -1) {
		typ, id := deviceType(m[1], m[2])
		if typ == "" {
			continue
		}
		subject := "device:" + typ + ":" + id
		if !seen[subject] {
			seen[subject] = true
			out = append(out, subject)
			if len(out) == maxDevices {
				break
			}
		}
	}
	return out
}

// deviceType decides the identifier type from the label and the value's
// shape, and returns the normalised id, or "" when the value does not fit.
//
// Generic labels ("设备ID", "device id") are resolved by shape: a UUID or
// long hex string is an OAID (the Chinese advertising id these mails are
// about), 15 Luhn-valid digits an IMEI, 16 hex digits an Android ID.
// "广告标识符" is what MSA calls the OAID, while "Advertising ID" is
// Google's name for the GAID.
func deviceType(label, value string) (typ, id string) {
	label = strings.Join(strings.Fields(label), "")
	value = strings.Trim(value, "-")
	switch {
	case strings.HasPrefix(label, "device:"):
		label = strings.TrimSuffix(strings.TrimPrefix(label, "device:"), ":")
	case strings.HasPrefix(label, "android"), strings.HasPrefix(label, "安卓"):
		label = "android_id"
	case strings.HasPrefix(label, "advertising"):
		label = "gaid"
	case strings.HasPrefix(label, "广告"):
		label = "oaid"
	case strings.HasPrefix(label, "设备"), strings.HasPrefix(label, "device"):
		label = "generic"
	}
	switch label {
	case "oaid":
		if isOAID(value) {
			return "oaid", value
		}
	case "idfa", "gaid":
		if isUUID(value) && !allZero(value) {
			return label, value
		}
	case "imei":
		if d := digitsOnly(value); isIMEI(d) {
			return "imei", d
		}
	case "android_id":
		if isHexN(value, 16) && !allZero(value) {
			return "android_id", value
		}
	case "generic":
		switch d := digitsOnly(value); {
		case isIMEI(d):
			return "imei", d
		case isHexN(value, 16) && !allZero(value):
			return "android_id", value
		case isOAID(value):
			return "oaid", value
		}
	}
	return "", ""
}

// isOAID accepts the shapes vendors use: UUIDs (Huawei, Samsung), 16 hex
// digits (Xiaomi) and 64 hex digits (vivo, OPPO). An all-zero value is what
// the SDK reports when the user has limited ad tracking; it names nobody.
func isOAID(v string) bool {
	hex := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex++
		case c == '-':
		default:
			return false
		}
	}
	if strings.Contains(v, "-") && !isUUID(v) {
		return false
	}
	return hex >= 16 && hex <= 64 && !allZero(v)
}

func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isHexN(v string, n int) bool {
	if len(v) != n {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(v string) bool { return strings.Trim(v, "0-") == "" }

// digitsOnly drops the spaces and dashes people type into IMEIs; it returns
// "" if anything else is present.
func digitsOnly(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == ' ' || c == '-':
		default:
			return ""
		}
	}
	return b.String()
}

// isIMEI requires the Luhn check digit: a mistyped IMEI would attach the
// request to a stranger's device, or to none.
func isIMEI(d string) bool {
	if len(d) != 15 || allZero(d) {
		return false
	}
	sum := 0
	for i := 0; i < 15; i++ {
		n := int(d[14-i] - '0')
		if i%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}
