package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// parleyApplicationID is stored in the database header (PRAGMA
// application_id) by migration 0001; it is "Prly" in ASCII.
const parleyApplicationID = 0x50726c79

// busyTimeoutMS is how long a connection waits for a lock held by another
// connection (or process) before SQLite gives up with SQLITE_BUSY.
const busyTimeoutMS = 5000

// maxReaders bounds the read-only connection pool.
var maxReaders = max(4, runtime.NumCPU())

// DB is an open Parley profile database. It is safe for concurrent use.
//
// Internally it keeps two connection pools on the same file: a single writer
// connection, so writes queue in Go instead of contending for SQLite's write
// lock, and a pool of query-only connections that, thanks to WAL, read
// concurrently with each other and with the writer.
type DB struct {
	path string
	// w has exactly one connection and carries every write and write
	// transaction. Code holding a write transaction must not call another
	// method that writes: it would wait for this connection forever.
	w *sql.DB
	r *sql.DB // query_only connections for reads
}

// Open opens the Parley database at path, creating it if it does not exist,
// and migrates it to the current schema.
//
// An existing file is first inspected through a read-only connection that
// cannot modify it: if its schema version is newer than this binary knows,
// Open returns an error wrapping ErrNewerSchema; if it is not a valid Parley
// database (not SQLite, damaged, failing PRAGMA quick_check, or belonging to
// another application), Open returns an error wrapping ErrCorrupt. In both
// cases the file is left byte-for-byte as it was. quick_check reads the whole
// file, so Open takes time proportional to the database size.
func Open(path string) (*DB, error) {
	ctx := context.Background()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("store: open %s: is a directory", path)
	case err == nil:
		if err := checkHeader(path, abs, fi.Size()); err != nil {
			return nil, err
		}
		if err := inspect(ctx, path, abs); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	w, err := sql.Open("sqlite", fileURI(abs,
		"_pragma=busy_timeout("+strconv.Itoa(busyTimeoutMS)+")",
		"_pragma=foreign_keys(1)",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_txlock=immediate",
	))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, openError(path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		if errors.Is(err, ErrNewerSchema) {
			return nil, err
		}
		return nil, openError(path, err)
	}

	r, err := sql.Open("sqlite", fileURI(abs,
		"_pragma=busy_timeout("+strconv.Itoa(busyTimeoutMS)+")",
		"_pragma=foreign_keys(1)",
		"_pragma=query_only(1)",
	))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, openError(path, err)
	}
	return &DB{path: path, w: w, r: r}, nil
}

// Close closes the database. The read connections are closed before the
// writer so that the writer is the last connection and SQLite checkpoints the
// WAL into the main file and removes the -wal and -shm files.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// Path returns the path the database was opened with.
func (db *DB) Path() string { return db.path }

// SchemaVersion returns the schema version stored in the file (PRAGMA
// user_version), which after a successful Open is the number of embedded
// migrations.
func (db *DB) SchemaVersion() (int, error) {
	var v int
	if err := db.r.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: reading schema version: %w", err)
	}
	return v, nil
}

// sqliteMagic is how every non-empty SQLite database file starts.
const sqliteMagic = "SQLite format 3\x00"

// checkHeader rejects a non-empty file that does not start with the SQLite
// magic string. SQLite would report most such files as SQLITE_NOTADB itself,
// but its unix VFS treats a 1-byte file as empty (a workaround for an old OS X
// msdos file system bug), so opening one read-write would silently overwrite
// it with a new database.
func checkHeader(path, abs string, size int64) error {
	if size == 0 {
		return nil // a new, empty database, e.g. created by touch
	}
	f, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err == io.EOF || err == io.ErrUnexpectedEOF || (err == nil && string(head) != sqliteMagic) {
		return newError(fmt.Sprintf("store: %s is not a valid Parley database: it is not an SQLite database (bad header)", path), ErrCorrupt)
	} else if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	return nil
}

// inspect checks an existing file through a connection that cannot write to
// it, before anything opens it read-write: corrupt files, other applications'
// databases and newer schemas are rejected here, untouched.
func inspect(ctx context.Context, path, abs string) error {
	// With neither a -wal nor a rollback -journal next to it, the main file
	// is the whole database and is opened immutable: no locks, and no -shm or
	// -wal files created (a plain mode=ro connection to a WAL database
	// creates both and, unable to checkpoint, leaves them behind). Otherwise
	// those files are needed to read the database, so it is opened mode=ro,
	// which never writes to the main file but may create the -shm index.
	params := []string{"mode=ro", "_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")"}
	if !exists(abs+"-wal") && !exists(abs+"-journal") {
		params = append(params, "immutable=1")
	}
	ro, err := sql.Open("sqlite", fileURI(abs, params...))
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	defer ro.Close()
	ro.SetMaxOpenConns(1)
	conn, err := ro.Conn(ctx)
	if err != nil {
		return openError(path, err)
	}
	defer conn.Close()

	// user_version comes from the header and does not need the schema to be
	// parsed, so a newer schema is recognised even if it uses SQL this
	// SQLite cannot parse.
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return openError(path, err)
	}
	if version > len(migrations) {
		return newerSchemaError(version)
	}

	if err := quickCheck(ctx, conn); err != nil {
		return openError(path, err)
	}

	var appID, objects int
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return openError(path, err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects); err != nil {
		return openError(path, err)
	}
	if (appID != 0 && appID != parleyApplicationID) || (version == 0 && objects > 0) {
		return newError(fmt.Sprintf("store: %s is not a valid Parley database: it is an SQLite database of another application (application_id %#x, schema version %d, %d schema objects)",
			path, appID, version, objects), ErrCorrupt)
	}
	return nil
}

// quickCheck runs PRAGMA quick_check and returns an error wrapping ErrCorrupt
// unless it reports exactly "ok".
func quickCheck(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, "PRAGMA quick_check(10)")
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		problems = append(problems, strings.ReplaceAll(s, "\n", "; "))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	if len(problems) == 0 {
		problems = []string{"no result"}
	}
	return newError("quick_check: "+strings.Join(problems, "; "), ErrCorrupt)
}

// openError turns an error met while opening path into the error Open
// returns, mapping SQLite's "not a database" and "corrupt" results to
// ErrCorrupt.
func openError(path string, err error) error {
	if errors.Is(err, ErrCorrupt) || isCorrupt(err) {
		return newError(fmt.Sprintf("store: %s is not a valid Parley database (damaged or not an SQLite database): %v", path, err), ErrCorrupt, err)
	}
	return fmt.Errorf("store: open %s: %w", path, err)
}

// isCorrupt reports whether err is an SQLite error whose primary result code
// is SQLITE_NOTADB or SQLITE_CORRUPT (extended codes such as
// SQLITE_CORRUPT_INDEX included).
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return true
	}
	return false
}

// fileURI returns an SQLite "file:" URI for the absolute path abs with the
// given query parameters. Characters with a meaning in URIs are escaped so
// that any file name works; SQLite decodes %HH escapes in the path.
func fileURI(abs string, params ...string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x becomes /C:/x
	}
	var b strings.Builder
	b.WriteString("file://")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '%', '?', '#', '&', '=', '+', ' ':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	if len(params) > 0 {
		b.WriteByte('?')
		b.WriteString(strings.Join(params, "&"))
	}
	return b.String()
}

// exists reports whether a file exists at name.
func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}
