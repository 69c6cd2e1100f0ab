package privacy

import "testing"

// Ids sort in the order they were made, so the store's id index keeps a
// subject's records together (see NewRecordID).
func TestNewRecordIDSortsByCreation(t *testing.T) {
	prev := NewRecordID()
	for i := 0; i < 10_000; i++ {
		id := NewRecordID()
		if id <= prev {
			t.Fatalf("id %d %s sorts before the one made before it, %s", i, id, prev)
		}
		prev = id
	}
}
