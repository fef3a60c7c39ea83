package sqlite

// Leadscore's install step adds this file to FerretDB's source (scripts/ferretdb.mjs, patch "schema-dict").
//
// Documents are stored with a reference to their schema (sjson.MarshalStored); the schemas themselves are kept once
// each in the table _ferretdb_schemas of the document's database, written in the same transaction as the first
// document that refers to them, so no committed document ever refers to a schema that is not stored. A process reads
// a database's schemas the first time it queries it; schemas it writes afterwards it knows already.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/fsql"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// schemasTable holds a database's schemas by reference. The reserved prefix keeps it apart from collections' tables.
const schemasTable = backends.ReservedPrefix + "schemas"

// schemaState is what this process knows of one database's schemas table.
type schemaState struct {
	loaded atomic.Bool // its rows were read into sjson's schemas
	load   sync.Mutex  // one reader of its rows at a time

	// mu guards the fields below; it is never held while waiting for the database, which a write transaction
	// holding a connection may need it to finish
	mu     sync.Mutex
	table  bool                // the table exists
	stored map[string]struct{} // references known to be committed in it
}

// schemaStates holds a schemaState for each database handle. Keeping the handle as a key keeps its address from being
// reused by another database's handle; a dropped database's new handle starts knowing nothing.
var schemaStates sync.Map // *fsql.DB → *schemaState

func stateOf(db *fsql.DB) *schemaState {
	v, _ := schemaStates.LoadOrStore(db, &schemaState{stored: map[string]struct{}{}})
	return v.(*schemaState)
}

// loadSchemas reads the database's schemas into sjson's the first time; a database without the table has none.
func loadSchemas(ctx context.Context, db *fsql.DB) error {
	st := stateOf(db)
	if st.loaded.Load() {
		return nil
	}

	st.load.Lock()
	defer st.load.Unlock()

	if st.loaded.Load() {
		return nil
	}

	refs, err := readSchemas(ctx, db)
	if err != nil {
		return err
	}

	st.mu.Lock()
	defer st.mu.Unlock()

	if refs != nil {
		st.table = true
	}

	for _, ref := range refs {
		st.stored[ref] = struct{}{}
	}

	st.loaded.Store(true)

	return nil
}

// readSchemas gives every schema of the database's table to sjson and returns their references (nil: no table).
func readSchemas(ctx context.Context, db *fsql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT ref, schema FROM %q`, schemasTable))
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil
		}

		return nil, lazyerrors.Error(err)
	}
	defer rows.Close()

	refs := []string{}

	for rows.Next() {
		var ref string
		var text []byte

		if err = rows.Scan(&ref, &text); err != nil {
			return nil, lazyerrors.Error(err)
		}

		if err = sjson.RememberSchema(ref, text); err != nil {
			return nil, lazyerrors.Error(err)
		}

		refs = append(refs, ref)
	}

	if err = rows.Err(); err != nil {
		return nil, lazyerrors.Error(err)
	}

	return refs, nil
}

// storedSchemas collects the schemas of the documents encoded for one write transaction.
type storedSchemas map[string][]byte

// marshal encodes a document for storage and records its schema.
func (s storedSchemas) marshal(doc *types.Document) ([]byte, error) {
	b, ref, text, err := sjson.MarshalStored(doc)
	if err != nil {
		return nil, err
	}

	if ref != "" {
		s[ref] = text
	}

	return b, nil
}

// write stores, inside the write transaction, the schemas the database is not known to hold.
func (s storedSchemas) write(ctx context.Context, db *fsql.DB, tx *fsql.Tx) error {
	if len(s) == 0 {
		return nil
	}

	st := stateOf(db)

	st.mu.Lock()
	table := st.table

	var missing []string

	for ref := range s {
		if _, ok := st.stored[ref]; !ok {
			missing = append(missing, ref)
		}
	}
	st.mu.Unlock()

	if len(missing) == 0 {
		return nil
	}

	if !table {
		q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %q (ref TEXT PRIMARY KEY NOT NULL, schema TEXT NOT NULL) STRICT`, schemasTable)
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return lazyerrors.Error(err)
		}
	}

	q := fmt.Sprintf(`INSERT OR IGNORE INTO %q (ref, schema) VALUES (?, ?)`, schemasTable)

	for _, ref := range missing {
		if _, err := tx.ExecContext(ctx, q, ref, string(s[ref])); err != nil {
			return lazyerrors.Error(err)
		}
	}

	return nil
}

// committed records that the transaction that wrote s committed.
func (s storedSchemas) committed(db *fsql.DB) {
	if len(s) == 0 {
		return
	}

	st := stateOf(db)

	st.mu.Lock()
	defer st.mu.Unlock()

	st.table = true

	for ref := range s {
		st.stored[ref] = struct{}{}
	}
}
