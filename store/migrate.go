package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered schema step from migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the ordered list of embedded migrations. Its length is the
// schema version this binary produces.
var migrations = mustLoadMigrations(migrationFS)

// mustLoadMigrations reads and validates the embedded migrations. Files must
// be named NNNN_description.sql and numbered 1, 2, 3, ... without gaps; a
// violation is a programming error and panics at init.
func mustLoadMigrations(fsys fs.FS) []migration {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		panic(fmt.Sprintf("store: listing migrations: %v", err))
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			panic(fmt.Sprintf("store: migration %s: name must look like 0001_description.sql", base))
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			panic(fmt.Sprintf("store: reading migration %s: %v", base, err))
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			panic(fmt.Sprintf("store: migration %s: expected number %04d (migrations must be numbered without gaps or duplicates)", m.name, i+1))
		}
	}
	return ms
}

// newerSchemaError reports a database whose schema version is beyond what
// this binary knows.
func newerSchemaError(version int) error {
	return newError(fmt.Sprintf("store: database schema version %d is newer than this Parley (knows %d): upgrade Parley",
		version, len(migrations)), ErrNewerSchema)
}

// migrate brings the database up to len(migrations), one transaction per
// migration. The writer pool opens transactions with BEGIN IMMEDIATE, so the
// version read and the update cannot race with another process migrating the
// same file.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateOne(ctx, db)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next pending migration, if any. It reports done when
// the schema is already current.
func migrateOne(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: begin migration: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()

	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("store: reading schema version: %w", err)
	}
	switch {
	case v > len(migrations):
		return false, newerSchemaError(v)
	case v < 0:
		return false, fmt.Errorf("store: invalid schema version %d", v)
	case v == len(migrations):
		return true, nil
	}
	m := migrations[v]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	// PRAGMA does not take bound parameters; m.version is an int.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return false, fmt.Errorf("store: migration %s: setting schema version: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: migration %s: commit: %w", m.name, err)
	}
	return false, nil
}
