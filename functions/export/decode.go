package export

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/veil-privacy/veil/privacy"
)

// storedRecord is what a bundle needs of one stored ad record: its line
// (the plain fields already in Fields), and where to open the rest.
type storedRecord struct {
	e       privacy.ExportedRecord
	subject string // the key it is filed under, whose data key opens sealed
	sealed  []byte
}

// decodeRecord decodes a stored privacy.AdRecord document into its bundle
// form. encoding/json spent about 40 % of an export's CPU on these
// documents, building maps (id_hashes) the bundle never shows and checking
// every byte twice; this reads the document once, in the shape
// json.Marshal gives it, and keeps values as the raw JSON they are. A
// document that is not in that shape (escaped keys, nulls, keys in
// another case, duplicate keys) goes through encoding/json instead, so the
// result is always what json.Unmarshal and privacy.ExportRecord would
// give (checked by TestDecodeRecordMatchesJSON and FuzzDecodeRecord).
func decodeRecord(data []byte, fields int) (*storedRecord, error) {
	if r, ok := fastRecord(data, fields); ok {
		return r, nil
	}
	var rec privacy.AdRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	return &storedRecord{e: privacy.ExportRecord(&rec, nil), subject: rec.SubjectKey, sealed: rec.Sealed}, nil
}

// openFields adds the fields of an opened sealed document (a JSON object
// of path → value) to fields, a sealed value winning over a plain one of
// the same path as in privacy.ExportRecord.
func openFields(fields map[string]json.RawMessage, plain []byte) error {
	if len(plain) == 0 {
		return nil
	}
	s := scanner{b: plain}
	if s.object(func(key string) bool {
		v, ok := s.raw()
		if ok {
			fields[key] = v
		}
		return ok
	}) && s.end() {
		return nil
	}
	sealed, err := privacy.OpenSealed(plain)
	if err != nil {
		return err
	}
	for k, v := range sealed {
		fields[k] = v
	}
	return nil
}

// Bits of the keys fastRecord has met, to refuse a second one.
const (
	kID = 1 << iota
	kSubject
	kApp
	kPlatform
	kRegion
	kReceived
	kExpires
	kRetention
	kPersonalized
	kPurposes
	kFields
	kIDHashes
	kSealed
	kIsolated
	kGeo
)

// recordKey is the bit of one of privacy.AdRecord's JSON keys, 0 for any
// other key.
func recordKey(key string) int {
	switch key {
	case "id":
		return kID
	case "subject_key":
		return kSubject
	case "app_id":
		return kApp
	case "platform":
		return kPlatform
	case "region":
		return kRegion
	case "received_at":
		return kReceived
	case "expires_at":
		return kExpires
	case "retention":
		return kRetention
	case "personalized":
		return kPersonalized
	case "purposes":
		return kPurposes
	case "fields":
		return kFields
	case "id_hashes":
		return kIDHashes
	case "sealed":
		return kSealed
	case "isolated":
		return kIsolated
	case "coarse_geo":
		return kGeo
	}
	return 0
}

// fastRecord is decodeRecord's one pass; ok is false for anything it does
// not handle exactly as encoding/json would.
func fastRecord(data []byte, fields int) (*storedRecord, bool) {
	r := &storedRecord{}
	e := &r.e
	s := scanner{b: data}
	met := 0
	ok := s.object(func(key string) bool {
		bit := recordKey(key)
		if bit == 0 || met&bit != 0 {
			return false // unknown, in another case, or again: encoding/json decides
		}
		met |= bit
		if s.null() {
			return true // json leaves the zero value (Fields: see below)
		}
		switch bit {
		case kID:
			return s.str(&e.ID)
		case kSubject:
			return s.str(&r.subject)
		case kApp:
			return s.str(&e.AppID)
		case kPlatform:
			var p string
			ok := s.str(&p)
			e.Platform = privacy.Platform(p)
			return ok
		case kRegion:
			return s.str(&e.Region)
		case kReceived:
			return s.time(&e.ReceivedAt)
		case kExpires:
			return s.time(&e.ExpiresAt)
		case kRetention:
			return s.str(&e.Retention)
		case kPersonalized:
			return s.boolean(&e.Personalized)
		case kPurposes:
			e.Purposes = []privacy.Purpose{}
			return s.array(func() bool {
				var p string
				ok := s.str(&p)
				e.Purposes = append(e.Purposes, privacy.Purpose(p))
				return ok
			})
		case kFields:
			e.Fields = make(map[string]json.RawMessage, fields)
			return s.object(func(path string) bool {
				v, ok := s.raw()
				if ok {
					e.Fields[path] = v
				}
				return ok
			})
		case kIDHashes: // not in a bundle: checked, not kept
			_, ok := s.raw()
			return ok
		case kSealed:
			var b64 []byte
			if !s.plainString(&b64) {
				return false
			}
			r.sealed = make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
			n, err := base64.StdEncoding.Decode(r.sealed, b64)
			r.sealed = r.sealed[:n]
			return err == nil
		case kIsolated:
			return s.str(&e.Isolated)
		case kGeo:
			g := &privacy.GeoPoint{}
			e.CoarseGeo = g
			seen := 0
			return s.object(func(k string) bool {
				switch {
				case k == "lat" && seen&1 == 0:
					seen |= 1
					return s.float(&g.Lat)
				case k == "lon" && seen&2 == 0:
					seen |= 2
					return s.float(&g.Lon)
				}
				return false
			})
		}
		return false
	})
	if !ok || !s.end() {
		return nil, false
	}
	// What privacy.ExportRecord makes of the fields that json leaves zero.
	if e.Fields == nil {
		e.Fields = make(map[string]json.RawMessage, fields)
	}
	e.ReceivedAt, e.ExpiresAt = e.ReceivedAt.UTC(), e.ExpiresAt.UTC()
	return r, true
}

// scanner reads JSON as json.Marshal writes it: no whitespace is needed,
// but any is accepted between tokens.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end is true when only whitespace is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// object reads {"key": value, ...}, calling member after each key's colon
// with the key (which must be a plain string) to read the value.
func (s *scanner) object(member func(key string) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		var key []byte
		if !s.plainString(&key) || !s.next(':') || !member(string(key)) {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// array reads [value, ...], calling elem to read each value.
func (s *scanner) array(elem func() bool) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next(']')
	}
}

// plainString reads a string without escapes or bytes json would change
// (control characters, invalid UTF-8), and sets *out to its contents,
// which alias the input.
func (s *scanner) plainString(out *[]byte) bool {
	if !s.next('"') {
		return false
	}
	start := s.i
	ascii := true
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				return false
			}
			*out = v
			return true
		case c == '\\' || c < 0x20:
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	return false
}

// str reads a plain string (see plainString) into *out.
func (s *scanner) str(out *string) bool {
	var v []byte
	if !s.plainString(&v) {
		return false
	}
	*out = string(v)
	return true
}

// time reads a time as time.Time's UnmarshalJSON does (RFC 3339).
func (s *scanner) time(out *time.Time) bool {
	s.space()
	start := s.i
	var v []byte
	if !s.plainString(&v) {
		return false
	}
	return out.UnmarshalJSON(s.b[start:s.i]) == nil
}

// null reads a null if one is next.
func (s *scanner) null() bool {
	s.space()
	return s.literal("null")
}

func (s *scanner) boolean(out *bool) bool {
	s.space()
	switch {
	case s.literal("true"):
		*out = true
	case s.literal("false"):
		*out = false
	default:
		return false
	}
	return true
}

func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// float reads a number as encoding/json does into a float64.
func (s *scanner) float(out *float64) bool {
	s.space()
	start := s.i
	if !s.number() {
		return false
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	*out = f
	return err == nil
}

// number reads a JSON number (RFC 8259's grammar).
func (s *scanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// raw reads any JSON value, checking it as json.Valid does, and returns
// its text as json.RawMessage holds it (a copy, without the whitespace
// around it).
func (s *scanner) raw() (json.RawMessage, bool) {
	s.space()
	start := s.i
	if !s.value(0) {
		return nil, false
	}
	return append(json.RawMessage(nil), s.b[start:s.i]...), true
}

// maxDepth bounds nesting as encoding/json does (it refuses deeper).
const maxDepth = 10000

func (s *scanner) value(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(func(string) bool { return s.value(depth + 1) })
	case c == '[':
		return s.array(func() bool { return s.value(depth + 1) })
	case c == '"':
		return s.anyString()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return false
}

// anyString reads a valid JSON string, escapes included. Inside a raw
// value its bytes are copied, not interpreted: json.Valid accepts invalid
// UTF-8 there and json.RawMessage keeps it as it is.
func (s *scanner) anyString() bool {
	if !s.next('"') {
		return false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i >= len(s.b) {
				return false
			}
			e := s.b[s.i]
			s.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(s.b)-s.i < 4 {
					return false
				}
				for _, h := range s.b[s.i : s.i+4] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				s.i += 4
			default:
				return false
			}
		}
	}
	return false
}
