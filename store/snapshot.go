package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Snapshot writes a consistent copy of the whole database to path, which
// must not exist yet, while the database stays in use. It runs SQLite's
// VACUUM INTO on a connection of its own (the read pool is query_only,
// which forbids it): the copy is taken inside one read transaction, so a
// write that commits meanwhile is in it entirely or not at all, and
// writers are not held up (WAL). The copy is a compact standalone
// file (no -wal) with the same schema version and application ID, which
// Open accepts like any profile database. It holds the identity's private
// key: put it where only the user can read it.
func (db *DB) Snapshot(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return fmt.Errorf("store: snapshot: %s already exists", path)
	}
	src, err := filepath.Abs(db.path)
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	conn, err := sql.Open("sqlite", fileURI(src, "_pragma=busy_timeout("+strconv.Itoa(busyTimeoutMS)+")"))
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("store: snapshot to %s: %w", path, err)
	}
	return nil
}

// CheckForeign inspects a database file that came from elsewhere, such as
// an imported profile, before Open touches it. It opens the file
// immutable and read-only, with untrusted schema, and returns an error
// wrapping ErrCorrupt if it is not SQLite or holds a trigger or a view
// (no Parley database has one; in a hostile file they could run SQL when
// Open migrates it), and one wrapping ErrNewerSchema if its schema is
// newer than this Parley. The file is not changed. After Open, CheckSchema
// checks the rest of the schema.
func CheckForeign(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	if err := checkHeader(path, abs, fi.Size()); err != nil {
		return err
	}
	if fi.Size() == 0 {
		return newError(fmt.Sprintf("store: %s is not a valid Parley database: it is empty", path), ErrCorrupt)
	}
	ro, err := sql.Open("sqlite", fileURI(abs, "mode=ro", "immutable=1", "_pragma=trusted_schema(0)"))
	if err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	defer ro.Close()
	ro.SetMaxOpenConns(1)
	var version int
	if err := ro.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return openError(path, err)
	}
	if version > len(migrations) {
		return newerSchemaError(version)
	}
	var kind, name string
	err = ro.QueryRowContext(ctx, "SELECT type, name FROM sqlite_schema WHERE type IN ('trigger', 'view') LIMIT 1").Scan(&kind, &name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return openError(path, err)
	}
	return newError(fmt.Sprintf("store: %s is not a valid Parley database: it holds a %s %s", path, kind, strconv.Quote(name)), ErrCorrupt)
}

// schemaObject is one row of sqlite_schema.
type schemaObject struct{ kind, name, table, sql string }

func readSchema(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]schemaObject, error) {
	rows, err := q.QueryContext(ctx, "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var objs []schemaObject
	for rows.Next() {
		var o schemaObject
		if err := rows.Scan(&o.kind, &o.name, &o.table, &o.sql); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, rows.Err()
}

// CheckSchema returns an error wrapping ErrCorrupt unless the database's
// schema (every table, index, trigger and view, with its SQL) and
// application ID are exactly those that this Parley's migrations make.
// Open migrates a file but does not compare it; a file from elsewhere
// (see CheckForeign) is checked with this after Open.
func (db *DB) CheckSchema(ctx context.Context) error {
	mem, err := sql.Open("sqlite", "file:pristine?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return fmt.Errorf("store: check schema: %w", err)
	}
	defer mem.Close()
	mem.SetMaxOpenConns(1)
	if err := migrate(ctx, mem); err != nil {
		return fmt.Errorf("store: check schema: %w", err)
	}
	want, err := readSchema(ctx, mem)
	if err != nil {
		return fmt.Errorf("store: check schema: %w", err)
	}
	got, err := readSchema(ctx, db.r)
	if err != nil {
		return fmt.Errorf("store: check schema: %w", err)
	}
	var appID int
	if err := db.r.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("store: check schema: %w", err)
	}
	if appID != parleyApplicationID {
		return newError(fmt.Sprintf("store: %s is not a valid Parley database: application_id %#x", db.path, appID), ErrCorrupt)
	}
	if !slices.Equal(got, want) {
		for _, o := range got {
			if !slices.Contains(want, o) {
				return newError(fmt.Sprintf("store: %s is not a valid Parley database: its schema has a %s %s that Parley's does not", db.path, o.kind, strconv.Quote(o.name)), ErrCorrupt)
			}
		}
		return newError(fmt.Sprintf("store: %s is not a valid Parley database: its schema lacks part of Parley's", db.path), ErrCorrupt)
	}
	return nil
}
