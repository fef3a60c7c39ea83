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
	mu     sync.Mutex
	loaded bool                // its rows were read into sjson's schemas
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

	st.mu.Lock()
	defer st.mu.Unlock()

	if st.loaded {
		return nil
	}

	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT ref, schema FROM %q`, schemasTable))
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			st.loaded = true
			return nil
		}

		return lazyerrors.Error(err)
	}
	defer rows.Close()

	for rows.Next() {
		var ref string
		var text []byte

		if err = rows.Scan(&ref, &text); err != nil {
			return lazyerrors.Error(err)
		}

		if err = sjson.RememberSchema(ref, text); err != nil {
			return lazyerrors.Error(err)
		}

		st.stored[ref] = struct{}{}
	}

	if err = rows.Err(); err != nil {
		return lazyerrors.Error(err)
	}

	st.loaded, st.table = true, true

	return nil
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
