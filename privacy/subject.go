package privacy

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Device identifier types a device subject may be named by.
var deviceIDTypes = [...]string{"oaid", "gaid", "idfa", "imei", "android_id", "mac"}

// Subject names a data subject: "account:<email>" for an account holder,
// "device:<id type>:<id>" for an end user known only by a device id.
type Subject struct {
	Kind   string // "account" or "device"
	IDType string // for devices: oaid, gaid, idfa, imei, android_id, mac
	Value  string // email (lower-cased) or the device id (lower-cased)
}

// String is the canonical form; the keyed hash of it is the subject's key in
// every store.
func (s Subject) String() string {
	if s.Kind == "device" {
		return "device:" + s.IDType + ":" + s.Value
	}
	return "account:" + s.Value
}

// IsDevice reports whether the subject is a device.
func (s Subject) IsDevice() bool { return s.Kind == "device" }

// Hint is a masked form for humans (ops lists, mails): enough to recognise,
// not enough to identify.
func (s Subject) Hint() string {
	v := s.Value
	if s.Kind == "account" {
		at := strings.LastIndexByte(v, '@')
		if first, size := utf8.DecodeRuneInString(v); at > size {
			return "account:" + string(first) + "***" + v[at:]
		}
		return "account:***"
	}
	if r := []rune(v); len(r) > 8 {
		// Cut by characters: a cut inside a multi-byte one would put
		// invalid UTF-8 into mails and JSON (found by FuzzParseSubject).
		v = string(r[:4]) + "…" + string(r[len(r)-4:])
	} else {
		v = "…"
	}
	return "device:" + s.IDType + ":" + v
}

// ParseSubject parses and normalises a subject string.
func ParseSubject(s string) (Subject, error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	switch {
	case !ok:
	case kind == "account":
		return AccountSubject(rest)
	case kind == "device":
		typ, id, ok := strings.Cut(rest, ":")
		if ok {
			return DeviceSubject(typ, id)
		}
	}
	return Subject{}, FieldError("subject", "a subject is account:<email> or device:<id type>:<id>")
}

// AccountSubject validates an email address and names its account.
func AccountSubject(email string) (Subject, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return Subject{}, FieldError("subject.email", "not a valid email address")
	}
	return Subject{Kind: "account", Value: strings.ToLower(email)}, nil
}

// DeviceSubject validates a device id of the given type.
func DeviceSubject(idType, id string) (Subject, error) {
	idType = strings.ToLower(strings.TrimSpace(idType))
	id = strings.ToLower(strings.TrimSpace(id))
	known := false
	for _, t := range deviceIDTypes {
		known = known || t == idType
	}
	if !known {
		return Subject{}, FieldError("subject.device", "unknown device id type %q", idType)
	}
	if id == "" || len(id) > 128 || strings.ContainsAny(id, " \t\r\n:") {
		return Subject{}, FieldError("subject.device", "device id must be 1–128 characters without spaces or colons")
	}
	return Subject{Kind: "device", IDType: idType, Value: id}, nil
}

// DeviceIDType maps a field path of the table ("ids.oaid", "mac") to the id
// type used in device subjects, or "" when the field is not a device id.
func DeviceIDType(path string) string {
	f, ok := FieldByPath(path)
	if !ok || !f.IsDeviceID() {
		return ""
	}
	return strings.TrimPrefix(path, "ids.")
}
