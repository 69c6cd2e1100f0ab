package firestore

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/veil-privacy/veil/infra/store"
)

func TestIndexesJSON(t *testing.T) {
	type field struct{ FieldPath, Order string }
	type idx struct {
		CollectionGroup, QueryScope string
		Fields                      []field
	}
	cases := []struct {
		name  string
		colls []store.Collection
		want  []idx
		bad   bool
	}{
		{"no composites", []store.Collection{{Name: "a", Keys: []store.Key{{Name: "k", Kind: store.String}}}}, []idx{}, false},
		{"single key skipped", []store.Collection{{Name: "a", Keys: []store.Key{{Name: "k", Kind: store.String}}, Indexes: [][]string{{"k"}}}}, []idx{}, false},
		{"asc and desc", []store.Collection{{Name: "r", Keys: []store.Key{{Name: "s", Kind: store.String}, {Name: "t", Kind: store.Int}}, Indexes: [][]string{{"s", "t"}}}},
			[]idx{
				{"r", "COLLECTION", []field{{"s", "ASCENDING"}, {"t", "ASCENDING"}, {"__name__", "ASCENDING"}}},
				{"r", "COLLECTION", []field{{"s", "ASCENDING"}, {"t", "DESCENDING"}, {"__name__", "DESCENDING"}}},
			}, false},
		{"duplicates merged, sorted by collection", []store.Collection{
			{Name: "z", Keys: []store.Key{{Name: "a", Kind: store.Bool}, {Name: "b", Kind: store.Int}}, Indexes: [][]string{{"a", "b"}, {"a", "b"}}},
			{Name: "m", Keys: []store.Key{{Name: "a", Kind: store.Bool}, {Name: "b", Kind: store.Int}}, Indexes: [][]string{{"a", "b"}}},
		}, []idx{
			{"m", "COLLECTION", []field{{"a", "ASCENDING"}, {"b", "ASCENDING"}, {"__name__", "ASCENDING"}}},
			{"m", "COLLECTION", []field{{"a", "ASCENDING"}, {"b", "DESCENDING"}, {"__name__", "DESCENDING"}}},
			{"z", "COLLECTION", []field{{"a", "ASCENDING"}, {"b", "ASCENDING"}, {"__name__", "ASCENDING"}}},
			{"z", "COLLECTION", []field{{"a", "ASCENDING"}, {"b", "DESCENDING"}, {"__name__", "DESCENDING"}}},
		}, false},
		{"unknown key", []store.Collection{{Name: "a", Indexes: [][]string{{"x", "y"}}}}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := IndexesJSON(c.colls)
			if c.bad {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var f struct {
				Indexes        []idx
				FieldOverrides []any
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			if f.FieldOverrides == nil {
				t.Error("fieldOverrides must be present (an empty list), as the deploy tools write it")
			}
			g, _ := json.Marshal(f.Indexes)
			w, _ := json.Marshal(c.want)
			if !bytes.Equal(g, w) {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}
