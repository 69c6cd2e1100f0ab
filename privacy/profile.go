package privacy

import (
	"slices"
	"sort"
	"time"
)

// Profile is an account holder's registration data (advertisers and
// developers): what a correction request (R11) changes and what a copy
// (R9) and a deletion (R12) cover. It is filed under the account's
// subject key; the email itself is the subject, not a profile field.
type Profile struct {
	SubjectKey string            `json:"subject_key"`
	Fields     map[string]string `json:"fields"`
	UpdatedAt  time.Time         `json:"updated_at"`
	History    []ProfileChange   `json:"history"`
}

// ProfileChange records who changed which fields and through which
// request. Old values are not kept: a correction replaces wrong data, and
// a history of it would keep the wrong data anyway.
type ProfileChange struct {
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	RequestID string    `json:"request_id,omitempty"`
	Fields    []string  `json:"fields"`
}

// ProfileField is one correctable field. RealName fields are the initial
// registration data checked by real-name verification: the policy (六(一)1)
// lets an account holder change them only after a person has verified the
// change, so a correction naming one goes to review (R11).
type ProfileField struct {
	Name     string
	RealName bool
	Zh, En   string
}

var profileFields = [...]ProfileField{
	{Name: "name", RealName: true, Zh: "姓名（实名认证）", En: "name (real-name verified)"},
	{Name: "id_number", RealName: true, Zh: "证件号码（实名认证）", En: "ID document number (real-name verified)"},
	{Name: "company", RealName: true, Zh: "企业名称（企业认证）", En: "company name (verified)"},
	{Name: "contact_name", Zh: "联系人", En: "contact person"},
	{Name: "phone", Zh: "联系电话", En: "phone number"},
	{Name: "address", Zh: "联系地址", En: "postal address"},
	{Name: "website", Zh: "网站", En: "website"},
}

// ProfileFields lists the correctable fields.
func ProfileFields() []ProfileField { return append([]ProfileField(nil), profileFields[:]...) }

// ProfileFieldByName returns the field named name.
func ProfileFieldByName(name string) (ProfileField, bool) {
	i := slices.IndexFunc(profileFields[:], func(f ProfileField) bool { return f.Name == name })
	if i < 0 {
		return ProfileField{}, false
	}
	return profileFields[i], true
}

// SplitCorrections sorts a correction's fields into those applied at once
// and those a person must review first: real-name-verified fields, and
// names the profile does not have (a person decides where that data lives
// — it may be the account's address, which changes who the subject is).
// Both lists are sorted.
func SplitCorrections(c map[string]string) (auto, review []string) {
	for name := range c {
		if f, ok := ProfileFieldByName(name); ok && !f.RealName {
			auto = append(auto, name)
		} else {
			review = append(review, name)
		}
	}
	sort.Strings(auto)
	sort.Strings(review)
	return auto, review
}
