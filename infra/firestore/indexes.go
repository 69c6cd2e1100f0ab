package firestore

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/veil-privacy/veil/infra/store"
)

//go:generate go test -run TestIndexesJSONCommitted -update .

// indexFile is the firestore.indexes.json format read by
// `firebase deploy --only firestore:indexes` and `gcloud firestore indexes`.
type indexFile struct {
	Indexes        []index         `json:"indexes"`
	FieldOverrides []fieldOverride `json:"fieldOverrides"`
}

// fieldOverride with no indexes exempts a field from Firestore's automatic
// single-field indexes.
type fieldOverride struct {
	CollectionGroup string  `json:"collectionGroup"`
	FieldPath       string  `json:"fieldPath"`
	Indexes         []index `json:"indexes"`
}

type index struct {
	CollectionGroup string       `json:"collectionGroup"`
	QueryScope      string       `json:"queryScope"`
	Fields          []indexField `json:"fields"`
}

type indexField struct {
	FieldPath string `json:"fieldPath"`
	Order     string `json:"order"`
}

// IndexesJSON renders the composite indexes that colls' queries need, in
// firestore.indexes.json format. Each declared index (equality keys first,
// then the order or range key) is emitted twice: ascending, and with the
// last key and the document id descending, because every store.Query ends
// with an ordering on the id in the key's direction and a Desc query needs
// its own index. Single-key queries need nothing here: Firestore indexes
// every field in both directions by itself, except a Composite key, which
// is exempted from them (a field override with no indexes). The output is
// sorted so that the committed file only changes when a declaration does.
func IndexesJSON(colls []store.Collection) ([]byte, error) {
	f := indexFile{Indexes: []index{}, FieldOverrides: []fieldOverride{}}
	seen := map[string]bool{}
	for _, c := range colls {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		for _, k := range c.Keys {
			if k.Composite {
				f.FieldOverrides = append(f.FieldOverrides, fieldOverride{CollectionGroup: c.Name, FieldPath: k.Name, Indexes: []index{}})
			}
		}
		for _, ix := range c.Indexes {
			if len(ix) < 2 {
				// The automatic single-field indexes serve one key, and
				// Firestore refuses to deploy a composite index that they make
				// unnecessary.
				continue
			}
			for _, desc := range []bool{false, true} {
				fields := make([]indexField, 0, len(ix)+1)
				for i, k := range ix {
					order := "ASCENDING"
					if desc && i == len(ix)-1 {
						order = "DESCENDING"
					}
					fields = append(fields, indexField{FieldPath: k, Order: order})
				}
				last := "ASCENDING"
				if desc {
					last = "DESCENDING"
				}
				fields = append(fields, indexField{FieldPath: "__name__", Order: last})
				in := index{CollectionGroup: c.Name, QueryScope: "COLLECTION", Fields: fields}
				if sig := in.signature(); !seen[sig] {
					seen[sig] = true
					f.Indexes = append(f.Indexes, in)
				}
			}
		}
	}
	sort.Slice(f.Indexes, func(i, j int) bool { return f.Indexes[i].signature() < f.Indexes[j].signature() })
	sort.Slice(f.FieldOverrides, func(i, j int) bool {
		a, b := f.FieldOverrides[i], f.FieldOverrides[j]
		return a.CollectionGroup+"\x00"+a.FieldPath < b.CollectionGroup+"\x00"+b.FieldPath
	})
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (in index) signature() string {
	parts := []string{in.CollectionGroup, in.QueryScope}
	for _, f := range in.Fields {
		parts = append(parts, f.FieldPath+":"+f.Order)
	}
	return strings.Join(parts, "\x00")
}
