package privacy

import "testing"

func TestCheckResidency(t *testing.T) {
	cases := []struct {
		region, location string
		consent, ok      bool
	}{
		{"CN", "cn-north-1", false, true},
		{"CN", "cn-local", false, true},
		{"CN", "us-east-1", false, false},
		{"CN", "asia-east2", false, false}, // Hong Kong is outside the mainland
		{"CN", "us-east-1", true, true},
		{"US", "us-east-1", false, true},
		{RegionOf(""), "eu-west-1", false, false},
	}
	for _, c := range cases {
		err := CheckResidency(c.region, c.location, c.consent)
		if (err == nil) != c.ok {
			t.Errorf("%+v: err = %v", c, err)
		}
		if err != nil && ErrorCode(err) != ERESIDENCY {
			t.Errorf("%+v: code %s", c, ErrorCode(err))
		}
	}
}
