package fsql

// Leadscore's checks of group_commit.go: write transactions queued together commit together, and one that fails,
// panics or is given up changes nothing of its own and nothing of the others'.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	_ "modernc.org/sqlite"
)

func openTestDB(t *testing.T) *DB {
	t.Helper()

	uri := "file:" + filepath.Join(t.TempDir(), "t.sqlite") + "?_pragma=journal_mode(wal)&_pragma=busy_timeout(10000)"

	sqlDB, err := sql.Open("sqlite", uri)
	if err != nil {
		t.Fatal(err)
	}

	db := WrapDB(sqlDB, "test", slog.Default())
	t.Cleanup(func() { _ = db.Close() })

	if _, err = db.ExecContext(context.Background(), `CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}

	return db
}

func keys(t *testing.T, db *DB) map[string]bool {
	t.Helper()

	rows, err := db.QueryContext(context.Background(), `SELECT k FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()

	got := map[string]bool{}

	for rows.Next() {
		var k string
		if err = rows.Scan(&k); err != nil {
			t.Fatal(err)
		}

		got[k] = true
	}

	return got
}

func insert(ks ...string) func(*Tx) error {
	return func(tx *Tx) error {
		for _, k := range ks {
			if _, err := tx.ExecContext(context.Background(), `INSERT INTO t (k) VALUES (?)`, k); err != nil {
				return err
			}
		}

		return nil
	}
}

// holdLock runs a write transaction that waits until release is closed, and returns once it holds the write lock.
func holdLock(t *testing.T, db *DB, release chan struct{}) *sync.WaitGroup {
	t.Helper()

	var wg sync.WaitGroup

	started := make(chan struct{})

	wg.Add(1)

	go func() {
		defer wg.Done()

		err := db.InTransaction(context.Background(), func(tx *Tx) error {
			close(started)
			<-release

			return insert("first")(tx)
		})
		if err != nil {
			t.Error(err)
		}
	}()

	<-started

	return &wg
}

// waitQueued waits until n write transactions are queued.
func waitQueued(db *DB, n int) {
	for {
		db.queue.mu.Lock()
		l := len(db.queue.reqs)
		db.queue.mu.Unlock()

		if l >= n {
			return
		}
	}
}

func TestGroupCommitsQueuedTogether(t *testing.T) {
	db := openTestDB(t)
	release := make(chan struct{})
	first := holdLock(t, db, release)

	var mu sync.Mutex

	txs := map[*Tx]bool{}
	errs := make([]error, 20)

	var wg sync.WaitGroup

	for i := range errs {
		wg.Add(1)

		go func() {
			defer wg.Done()

			errs[i] = db.InTransaction(context.Background(), func(tx *Tx) error {
				mu.Lock()
				txs[tx] = true
				mu.Unlock()

				switch i % 5 {
				case 1:
					return insert(fmt.Sprintf("k%d", i), "first")(tx) // its first write lands, its second is refused
				case 2:
					panic("boom")
				default:
					return insert(fmt.Sprintf("k%d", i))(tx)
				}
			})
		}()
	}

	waitQueued(db, len(errs))
	close(release)
	first.Wait()
	wg.Wait()

	if len(txs) != 1 {
		t.Fatalf("20 transactions queued together ran in %d SQLite transactions, want 1", len(txs))
	}

	got := keys(t, db)

	for i, err := range errs {
		k := fmt.Sprintf("k%d", i)

		switch i % 5 {
		case 1, 2:
			if err == nil || got[k] {
				t.Errorf("%s: a failed transaction gave %v and left its write: %v", k, err, got[k])
			}
		default:
			if err != nil || !got[k] {
				t.Errorf("%s: a good transaction gave %v, written: %v", k, err, got[k])
			}
		}
	}

	if len(got) != 1+12 {
		t.Errorf("%d rows, want the first and 12 good ones: %v", len(got), got)
	}
}

func TestGroupCommitGivenUp(t *testing.T) {
	db := openTestDB(t)
	release := make(chan struct{})
	first := holdLock(t, db, release)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)

	go func() { done <- db.InTransaction(ctx, insert("abandoned")) }()

	waitQueued(db, 1)
	cancel()

	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller that gave up while queued got %v", err)
	}

	other := make(chan error)

	go func() { other <- db.InTransaction(context.Background(), insert("kept")) }()

	waitQueued(db, 2)
	close(release)
	first.Wait()

	if err := <-other; err != nil {
		t.Fatal(err)
	}

	if got := keys(t, db); got["abandoned"] || !got["kept"] || !got["first"] {
		t.Fatalf("rows %v: want first and kept, not the abandoned write", got)
	}
}

func TestGroupCommitAlone(t *testing.T) {
	db := openTestDB(t)

	if err := db.InTransaction(context.Background(), insert("a", "b")); err != nil {
		t.Fatal(err)
	}

	if err := db.InTransaction(context.Background(), insert("c", "a")); err == nil {
		t.Fatal("a duplicate key was accepted")
	}

	if got := keys(t, db); len(got) != 2 || !got["a"] || !got["b"] {
		t.Fatalf("rows %v: want a and b (c rolled back with the refused a)", got)
	}
}
