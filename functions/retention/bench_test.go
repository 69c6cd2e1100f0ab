package retention

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/veil-privacy/veil/infra/config"
	"github.com/veil-privacy/veil/infra/sqlite"
	"github.com/veil-privacy/veil/privacy"
)

// benchRecords is how many expired records the sweep benchmark seeds
// (VEIL_BENCH_RECORDS overrides the 1,000,000 for quick runs).
func benchRecords(b *testing.B) int {
	if v := os.Getenv("VEIL_BENCH_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("VEIL_BENCH_RECORDS=%q", v)
		}
		return n
	}
	return 1_000_000
}

// rawDB opens the benchmark's SQLite file directly, with the pragmas the
// store uses, for seeding and for the plain DELETE being compared.
func rawDB(b *testing.B, path string) *sql.DB {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "secure_delete(ON)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// seed inserts n expired ad records in one transaction, in the store's
// own layout (JSON document plus key columns), spread over 20 apps, 3
// countries, 2 platforms and 30 days.
func seed(b *testing.B, path string, n int, now time.Time) {
	db := rawDB(b, path)
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.Prepare(`INSERT INTO c_adrecords (id, data, k_subject, k_expires, k_received, k_app) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	countries := []string{"CN", "SG", "US"}
	for i := range n {
		received := now.Add(-200*privacy.Day - time.Duration(i%30)*privacy.Day - time.Duration(i%86400)*time.Second)
		r := privacy.AdRecord{ID: fmt.Sprintf("rec-%09d", i), SubjectKey: fmt.Sprintf("%064x", i%50000), AppID: fmt.Sprintf("app-%02d", i%20),
			Platform: privacy.Platform([]string{"android", "ios"}[i%2]), Region: "CN", ReceivedAt: received,
			ExpiresAt: received.Add(180 * privacy.Day), Retention: privacy.ClassAdRequests, Personalized: i%3 == 0,
			Purposes: []privacy.Purpose{"fraud", "attribution"},
			Fields:   map[string]json.RawMessage{"country": json.RawMessage(`"` + countries[i%3] + `"`), "model": json.RawMessage(`"Mate 60"`), "ip": json.RawMessage(`"10.1.2.0"`)},
			IDHashes: map[string]string{"ids.oaid": fmt.Sprintf("%064x", i)}, Sealed: make([]byte, 96)}
		data, _ := json.Marshal(r)
		if _, err := st.Exec(r.ID, data, r.SubjectKey, r.ExpiresAt.Unix(), r.ReceivedAt.Unix(), r.AppID); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSweep sweeps benchRecords expired records with the retention
// sweep (checkpointed batches, statistics, events) and then deletes the
// same rows, seeded again, with one plain DELETE, reporting both rates and
// their ratio. Run: go test ./functions/retention -run '^$' -bench Sweep -benchtime 1x
func BenchmarkSweep(b *testing.B) {
	n := benchRecords(b)
	for b.Loop() {
		e := newEnv(b, config.Config{})
		path := e.d.DB.Backend.(*sqlite.DB).Path()
		seed(b, path, n, e.now)
		e.f.sweep.maxBatches = 0 // one run sweeps everything

		start := time.Now()
		rep, err := e.f.sweep.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		sweep := time.Since(start)
		if got := rep.Passes[0].Anonymized; got != int64(n) {
			b.Fatalf("swept %d of %d", got, n)
		}
		if total, _ := e.statTotal(); total != int64(n) {
			b.Fatalf("statistics count %d of %d", total, n)
		}

		seed(b, path, n, e.now)
		db := rawDB(b, path)
		start = time.Now()
		res, err := db.Exec(`DELETE FROM c_adrecords WHERE k_expires < ?`, e.now.Unix())
		if err != nil {
			b.Fatal(err)
		}
		plain := time.Since(start)
		if got, _ := res.RowsAffected(); got != int64(n) {
			b.Fatalf("plain DELETE removed %d of %d", got, n)
		}
		db.Close()

		b.ReportMetric(float64(n)/sweep.Seconds(), "sweep-rec/s")
		b.ReportMetric(float64(n)/plain.Seconds(), "delete-rec/s")
		b.ReportMetric(sweep.Seconds()/plain.Seconds(), "ratio")
		b.ReportMetric(float64(rep.Passes[0].Batches), "batches")
		b.Logf("%d records: sweep %s (%d batches), plain DELETE %s, ratio %.1f; db file %s", n, sweep, rep.Passes[0].Batches, plain,
			sweep.Seconds()/plain.Seconds(), sizeOf(path))
	}
}

func sizeOf(path string) string {
	fi, err := os.Stat(filepath.Clean(path))
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB", float64(fi.Size())/(1<<20))
}
