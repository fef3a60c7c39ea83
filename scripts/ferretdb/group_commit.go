package fsql

// Leadscore's install step adds this file to FerretDB's source (scripts/ferretdb.mjs, patch "group-commit").
//
// With the write-queue patch, write transactions run one at a time, and each ends in a commit that appends every page
// it changed to SQLite's WAL: under Leadscore's scoring, commits and their page writes were a fifth of the database's
// CPU, and consecutive transactions mostly change the same pages (the ends of the tables and indexes that grow). Here
// the writer holding the write lock runs every write transaction queued behind it too, each inside a savepoint of one
// SQLite transaction, and commits once. A write that fails is rolled back to its savepoint and gets its own error;
// the others still commit. Each caller is answered after the commit that holds its writes.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// maxGroup is the most write transactions committed together.
const maxGroup = 64

// writeQueue holds the write transactions waiting for the write lock.
type writeQueue struct {
	mu   sync.Mutex
	reqs []*writeReq
}

// writeReq is one caller's write transaction.
type writeReq struct {
	ctx   context.Context
	f     func(*Tx) error
	state atomic.Int32 // reqWaiting, then reqTaken by a group or reqAbandoned by its caller
	done  chan error   // the answer, sent once
}

const (
	reqWaiting int32 = iota
	reqTaken
	reqAbandoned
)

// inGroup runs f in a write transaction, committed with the others waiting at the same time (see the file comment).
func (db *DB) inGroup(ctx context.Context, f func(*Tx) error) error {
	r := &writeReq{ctx: ctx, f: f, done: make(chan error, 1)}

	db.queue.mu.Lock()
	db.queue.reqs = append(db.queue.reqs, r)
	db.queue.mu.Unlock()

	select {
	case err := <-r.done:
		// the holder of the write lock ran it
		return err

	case db.writes <- struct{}{}:
		// queued before the lock was taken, it is in the groups run now unless an earlier holder ran it
		for len(r.done) == 0 {
			db.runQueued()
		}

		<-db.writes

		return <-r.done

	case <-ctx.Done():
		if r.state.CompareAndSwap(reqWaiting, reqAbandoned) {
			return lazyerrors.Error(ctx.Err())
		}

		// a group took it before the caller gave up: its answer says what became of it
		return <-r.done
	}
}

// runQueued runs up to maxGroup of the queued write transactions in one SQLite transaction.
func (db *DB) runQueued() {
	db.queue.mu.Lock()

	var group []*writeReq

	n := 0
	for _, r := range db.queue.reqs {
		n++

		if r.state.CompareAndSwap(reqWaiting, reqTaken) {
			group = append(group, r)
			if len(group) == maxGroup {
				break
			}
		}
	}

	db.queue.reqs = db.queue.reqs[n:]
	db.queue.mu.Unlock()

	if len(group) > 0 {
		db.commitGroup(group)
	}
}

// commitGroup runs the group's transactions, each in a savepoint of one transaction, and answers each caller.
func (db *DB) commitGroup(group []*writeReq) {
	// a caller that goes away must not roll back the others' writes: the group's statements are not cancelled
	bg := context.Background()

	sqlTx, err := db.sqlDB.BeginTx(bg, nil)
	if err != nil {
		for _, r := range group {
			r.done <- lazyerrors.Error(err)
		}

		return
	}

	tx := wrapTx(sqlTx, db.l)
	tx.detached = true

	// a caller's own error, whatever becomes of the group; fatal: the transaction is lost for all
	own := make([]error, len(group))
	single := len(group) == 1

	var fatal error

	for i, r := range group {
		if single {
			if own[i] = runWrite(r, tx); own[i] != nil {
				fatal = own[i]
			}

			break
		}

		sp := fmt.Sprintf("ferretdb_write_%d", i)

		if _, fatal = tx.ExecContext(bg, "SAVEPOINT "+sp); fatal != nil {
			break
		}

		if own[i] = runWrite(r, tx); own[i] != nil {
			// its writes undone, the others kept; if SQLite already rolled the whole transaction back, this fails
			if _, fatal = tx.ExecContext(bg, "ROLLBACK TO "+sp); fatal != nil {
				break
			}
		}

		if _, fatal = tx.ExecContext(bg, "RELEASE "+sp); fatal != nil {
			break
		}
	}

	if fatal == nil {
		fatal = tx.Commit()
	} else {
		_ = tx.Rollback()
	}

	for i, r := range group {
		switch {
		case own[i] != nil:
			r.done <- own[i] // not wrapped: callers depend on some of f's errors
		case fatal != nil:
			r.done <- lazyerrors.Error(fatal) // its writes, or the group's, were rolled back, or it never ran
		default:
			r.done <- nil
		}
	}
}

// runWrite runs one caller's function; a panic in it becomes its error instead of ending the group.
func runWrite(r *writeReq, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = lazyerrors.Errorf("write transaction panicked: %v", p)
		}
	}()

	if err = context.Cause(r.ctx); err != nil {
		return lazyerrors.Error(err)
	}

	return r.f(tx)
}
