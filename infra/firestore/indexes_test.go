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
		{"composite key without a composite", []store.Collection{{Name: "a", Keys: []store.Key{{Name: "k", Kind: store.String, Composite: true}}}}, nil, true},
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
				FieldOverrides []struct {
					CollectionGroup, FieldPath string
					Indexes                    []any
				}
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
			if len(f.FieldOverrides) != 0 {
				t.Errorf("field overrides %+v for collections without Composite keys", f.FieldOverrides)
			}
		})
	}
}

// A Composite key is exempted from the automatic single-field indexes
// (its composite serves its queries), and only it.
func TestIndexesJSONExemptsCompositeKeys(t *testing.T) {
	c := store.Collection{Name: "recs", Keys: []store.Key{{Name: "subject", Kind: store.String, Composite: true}, {Name: "at", Kind: store.Int}},
		Indexes: [][]string{{"subject", "at"}}}
	raw, err := IndexesJSON([]store.Collection{c})
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Indexes        []json.RawMessage
		FieldOverrides []struct {
			CollectionGroup, FieldPath string
			Indexes                    []any
		}
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Indexes) != 2 {
		t.Errorf("want the composite ascending and descending, got %d indexes", len(f.Indexes))
	}
	if len(f.FieldOverrides) != 1 || f.FieldOverrides[0].CollectionGroup != "recs" || f.FieldOverrides[0].FieldPath != "subject" ||
		f.FieldOverrides[0].Indexes == nil || len(f.FieldOverrides[0].Indexes) != 0 {
		t.Fatalf("field overrides = %+v, want one for recs.subject with an empty index list", f.FieldOverrides)
	}
}
