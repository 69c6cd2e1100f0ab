package partners_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/veil-privacy/veil/functions/partners"
	"github.com/veil-privacy/veil/privacy"
)

func record() *privacy.AdRecord {
	all := []privacy.Purpose{privacy.PurposeFraud, privacy.PurposeAttribution, privacy.PurposeCreative, privacy.PurposeLocale,
		privacy.PurposeOS, privacy.PurposePersonalization}
	return &privacy.AdRecord{ID: "r1", SubjectKey: "k1", AppID: "app_1", Platform: privacy.Android, Region: "CN",
		ReceivedAt: time.Date(2026, 11, 28, 10, 42, 7, 0, time.UTC), Personalized: true, Purposes: all,
		Fields: map[string]json.RawMessage{"brand": json.RawMessage(`"Xiaomi"`), "ip": json.RawMessage(`"203.0.113.0/24"`),
			"screen": json.RawMessage(`{"w":1,"h":2}`), "sensors": json.RawMessage(`[1]`), "boot_time": json.RawMessage(`17`),
			"language": json.RawMessage(`"zh"`),
			// Never in Fields in practice (ingest seals them); here to
			// prove the feed would not pass them on anyway.
			"device_name": json.RawMessage(`"Wang's"`), "ids.oaid": json.RawMessage(`"raw"`)},
		CoarseGeo: &privacy.GeoPoint{Lat: 31.2, Lon: 121.5}}
}

func TestDeidentify(t *testing.T) {
	no, yes := false, true
	consent := func(g *bool, kv ...any) *privacy.Consent {
		c := &privacy.Consent{Purposes: map[string]bool{}, Guardian: g}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Purposes[kv[i].(string)] = kv[i+1].(bool)
		}
		return c
	}
	for _, c := range []struct {
		name     string
		purposes []privacy.Purpose
		location string
		rec      func(*privacy.AdRecord)
		consent  *privacy.Consent
		fields   []string // nil: nothing shared
		geo      bool
	}{
		{"nothing recorded", []privacy.Purpose{privacy.PurposeFraud}, "cn-shanghai", nil, nil, []string{"brand", "ip", "sensors"}, true},
		{"sharing granted", []privacy.Purpose{privacy.PurposeFraud}, "cn-shanghai", nil, consent(nil, "partner_sharing", true), []string{"brand", "ip", "sensors"}, true},
		{"sharing refused", []privacy.Purpose{privacy.PurposeFraud}, "cn-shanghai", nil, consent(nil, "partner_sharing", false), nil, false},
		{"guardian refused", []privacy.Purpose{privacy.PurposeFraud}, "cn-shanghai", nil, consent(&no, "partner_sharing", true), nil, false},
		{"guardian granted", []privacy.Purpose{privacy.PurposeFraud}, "cn-shanghai", nil, consent(&yes), []string{"brand", "ip", "sensors"}, true},
		{"isolated", []privacy.Purpose{privacy.PurposeFraud}, "cn-shanghai", func(r *privacy.AdRecord) { r.Isolated = "hold" }, nil, nil, false},
		{"location refused", []privacy.Purpose{privacy.PurposeFraud}, "cn-shanghai", nil, consent(nil, "location", false), []string{"brand", "ip", "sensors"}, false},
		{"creative only", []privacy.Purpose{privacy.PurposeCreative}, "cn-shanghai", nil, nil, []string{"screen"}, false},
		{"locale", []privacy.Purpose{privacy.PurposeLocale}, "cn-shanghai", nil, nil, []string{"language"}, false},
		{"personalization", []privacy.Purpose{privacy.PurposePersonalization}, "cn-shanghai", nil, nil, []string{"sensors"}, true},
		{"personalization refused since", []privacy.Purpose{privacy.PurposePersonalization}, "cn-shanghai", nil, consent(nil, "personalized_ads", false), nil, false},
		{"record not personalized", []privacy.Purpose{privacy.PurposePersonalization}, "cn-shanghai", func(r *privacy.AdRecord) { r.Personalized = false }, nil, nil, false},
		{"purpose the record was not collected for", []privacy.Purpose{privacy.PurposeOS}, "cn-shanghai",
			func(r *privacy.AdRecord) { r.Purposes = []privacy.Purpose{privacy.PurposeFraud} }, nil, nil, false},
		{"abroad without consent", []privacy.Purpose{privacy.PurposeFraud}, "us-east-1", nil, nil, nil, false},
		{"abroad with consent", []privacy.Purpose{privacy.PurposeFraud}, "us-east-1", nil, consent(nil, "cross_border", true), []string{"brand", "ip", "sensors"}, true},
		{"abroad, data not from CN", []privacy.Purpose{privacy.PurposeFraud}, "us-east-1", func(r *privacy.AdRecord) { r.Region = "SG" }, nil, []string{"brand", "ip", "sensors"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := record()
			if c.rec != nil {
				c.rec(rec)
			}
			p := &partners.Partner{ID: "pt_1", Purposes: c.purposes, Location: c.location}
			item, cats, purposes, ok := partners.Deidentify(rec, p, c.consent)
			if c.fields == nil {
				if ok {
					t.Fatalf("shared %+v", item)
				}
				return
			}
			if !ok {
				t.Fatal("nothing shared")
			}
			var got []string
			for f := range item.Fields {
				got = append(got, f)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.fields) || (item.Geo != nil) != c.geo {
				t.Fatalf("fields %v geo %v, want %v geo %v", got, item.Geo, c.fields, c.geo)
			}
			if !item.Hour.Equal(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)) || item.Pseudonym != "" || item.ID != "" {
				t.Errorf("item %+v: hour not truncated, or identifiers set without the key ring", item)
			}
			if cats[0] != privacy.CatDeviceID || (c.geo != slices.Contains(cats, privacy.CatLocation)) {
				t.Errorf("categories %v", cats)
			}
			for _, pu := range purposes {
				if !slices.Contains(c.purposes, pu) {
					t.Errorf("disclosed for %s, which the partner was not registered for", pu)
				}
			}
		})
	}
}
