package profile

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"
	"github.com/gofrs/flock"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

// Profile export files
//
// An export moves a profile to another computer. Everything a profile
// holds is in its database (identity, contacts, messages, calls, host
// cache, settings), so an export is a snapshot of that database with a
// manifest, sealed with a password:
//
//   - the file is an age file (filippo.io/age, age-encryption.org/v1)
//     encrypted to exactly one scrypt passphrase recipient (work factor
//     2^18 when written, at most 2^20 accepted when read);
//   - inside is a gzip-compressed tar archive of exactly two regular files,
//     in this order: manifest.json (exportManifest, at most 64 KiB) and
//     parley.db (store.Snapshot of the database);
//   - nothing may follow the archive.
//
// So 'age -d FILE | tar -tvz' lists an export with standard tools. An
// import trusts nothing in the file: it bounds every size, takes only the
// two expected names as regular files (never as paths), checks the
// database as a foreign file (store.CheckForeign, store.Open,
// store.CheckSchema) and that its identity is the manifest's, and only
// then moves it into place.

// MinPasswordLen is the least number of characters an export password
// may have.
const MinPasswordLen = 8

const (
	exportFormat   = "parley-profile"
	exportVersion  = 1
	manifestName   = "manifest.json"
	maxManifest    = 64 << 10
	maxTrailing    = 64 << 10 // bytes allowed after the tar's end (its zero blocks)
	exportFileMode = 0o600
)

// Tunables, variables so that tests can make them small.
var (
	// exportWorkFactor is scrypt's log2(N) for new exports: 256 MiB and
	// about a second, as age itself uses.
	exportWorkFactor = 18
	// importMaxWorkFactor is the most an import accepts: 1 GiB. A file
	// asking for more is refused rather than worked on.
	importMaxWorkFactor = 20
	// maxImportDB bounds the database an import writes to disk.
	maxImportDB int64 = 4 << 30
)

// exportManifest describes an export; it is the archive's first file.
type exportManifest struct {
	Format        string    `json:"format"`  // exportFormat
	Version       int       `json:"version"` // exportVersion
	NodeID        string    `json:"node_id"`
	Username      string    `json:"username"`
	Fingerprint   string    `json:"fingerprint"`
	Exported      time.Time `json:"exported"`
	ParleyVersion string    `json:"parley_version"`
	DBSize        int64     `json:"db_size"`
	DBSHA256      string    `json:"db_sha256"`
}

// CheckPassword refuses a password too short to protect an identity.
func CheckPassword(password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen {
		if n == 0 {
			return fmt.Errorf("%w: the password is empty", ErrWeakPassword)
		}
		return fmt.Errorf("%w: %d characters, at least %d needed", ErrWeakPassword, n, MinPasswordLen)
	}
	return nil
}

// Export writes the whole profile (identity, contacts, message
// history, call log, host cache and settings) to w as a file sealed with
// password; see the comment at the top of export.go for the format. It
// works while a peer runs on the profile: the database is snapshotted
// consistently (store.Snapshot) into a temporary file in the profile
// directory, which only the user can read, and removed afterwards. It
// refuses a password shorter than MinPasswordLen with ErrWeakPassword.
// version is the Parley version the manifest records (app.Version).
func Export(ctx context.Context, prof *Profile, w io.Writer, password, version string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	removeStaleSnapshots(prof.Dir)
	tmp, err := os.MkdirTemp(prof.Dir, snapshotPrefix)
	if err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, DBFile)
	if err := prof.DB.Snapshot(ctx, snap); err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	f, err := os.Open(snap)
	if err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	m := exportManifest{
		Format:        exportFormat,
		Version:       exportVersion,
		NodeID:        prof.Identity.NodeID().String(),
		Username:      prof.Username,
		Fingerprint:   prof.Fingerprint(),
		Exported:      now,
		ParleyVersion: version,
		DBSize:        size,
		DBSHA256:      hex.EncodeToString(h.Sum(nil)),
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	err = sealArchive(w, password, exportWorkFactor, func(tw *tar.Writer) error {
		if err := addFile(tw, manifestName, int64(len(mb)), now, bytes.NewReader(mb)); err != nil {
			return err
		}
		return addFile(tw, DBFile, size, now, ctxReader{ctx, f})
	})
	if err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	return nil
}

// snapshotPrefix starts the names of the temporary directories that hold
// an export's database snapshot in the profile directory.
const snapshotPrefix = ".export-"

// removeStaleSnapshots removes snapshots that an export killed midway left
// in dir: those older than an hour, which no export still running uses.
// (They are no less private than the database beside them.)
func removeStaleSnapshots(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), snapshotPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// sealArchive writes an age file sealed with password (scrypt at 2^logN)
// holding a gzip-compressed tar archive that fill writes.
func sealArchive(w io.Writer, password string, logN int, fill func(*tar.Writer) error) error {
	rcpt, err := age.NewScryptRecipient(password)
	if err != nil {
		return err
	}
	rcpt.SetWorkFactor(logN)
	aw, err := age.Encrypt(w, rcpt)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(aw)
	tw := tar.NewWriter(gz)
	if err := fill(tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return aw.Close()
}

// addFile writes one regular file of size bytes from r into tw.
func addFile(tw *tar.Writer, name string, size int64, mod time.Time, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: exportFileMode, ModTime: mod, Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(tw, io.LimitReader(r, size))
	if err == nil && n != size {
		err = fmt.Errorf("%s: %d bytes, expected %d", name, n, size)
	}
	return err
}

// ExportFile writes the export (see Export) to a new file
// at path, mode 0600. It refuses to replace an existing file. The export
// is written under a temporary name in path's directory, synced and then
// renamed, so path never holds half an export.
func ExportFile(ctx context.Context, prof *Profile, path, password, version string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("profile: export: %s already exists", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(exportFileMode); err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	if err := Export(ctx, prof, f, password, version); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("profile: export: %s already exists", path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("profile: export: %w", err)
	}
	ok = true
	return nil
}

// Import reads an export (see Export) from r, sealed with
// password, and makes it the profile in dir, which it then opens: the
// imported profile has the same identity (NodeID, fingerprint, username),
// contacts, history and settings as the one exported.
//
// It fails with ErrProfileExists if dir already holds a profile,
// ErrProfileLocked if a Parley process holds dir, ErrWrongPassword if the
// password does not open the file, and ErrBadExport (also wrapping
// store.ErrCorrupt or store.ErrNewerSchema where they apply) if the file
// is not a Parley export or is damaged, truncated or not acceptable. On
// any failure nothing is left in dir or beside it: the profile is built
// in a temporary directory and moved into place only once it checks out.
//
// Run only one copy of an identity at a time: stop Parley on the old
// computer before starting the imported profile.
func Import(ctx context.Context, r io.Reader, password, dir string) (*Profile, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("profile: import: %w", err)
	}
	if exists(filepath.Join(abs, DBFile)) {
		return nil, fmt.Errorf("%w in %s: import into a new directory, or remove it first", ErrProfileExists, dir)
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("profile: import: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".parley-import-")
	if err != nil {
		return nil, fmt.Errorf("profile: import: %w", err)
	}
	defer os.RemoveAll(tmp)
	m, err := readExport(ctx, r, password, tmp)
	if err != nil {
		return nil, err
	}
	if err := checkImported(ctx, filepath.Join(tmp, DBFile), m); err != nil {
		return nil, err
	}
	if err := install(tmp, abs); err != nil {
		return nil, err
	}
	return Open(ctx, dir)
}

// exists reports whether a file exists at name.
func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// install moves the checked profile in tmp to dir: the whole directory if
// dir does not exist yet, else the database file alone, under dir's lock.
func install(tmp, dir string) error {
	if !exists(dir) {
		err := os.Rename(tmp, dir)
		if err == nil {
			return nil
		}
		if !exists(dir) {
			return fmt.Errorf("profile: import: %w", err)
		}
		// Made meanwhile: go on as for an existing directory.
	}
	lk := flock.New(filepath.Join(dir, lockFile))
	ok, err := lk.TryLock()
	if err != nil {
		return fmt.Errorf("profile: import: lock %s: %w", dir, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrProfileLocked, dir)
	}
	defer lk.Unlock()
	target := filepath.Join(dir, DBFile)
	if exists(target) {
		return fmt.Errorf("%w in %s", ErrProfileExists, dir)
	}
	// Journal files left without their database would be applied to ours.
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(target + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("profile: import: %w", err)
		}
	}
	if err := os.Rename(filepath.Join(tmp, DBFile), target); err != nil {
		return fmt.Errorf("profile: import: %w", err)
	}
	return nil
}

// badExport returns an error wrapping ErrBadExport (and err, if any).
func badExport(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadExport}, args...)...)
}

// passwordIdentity is age's scrypt identity that remembers whether the
// file was sealed with a password and the password failed, so that a
// wrong password is told apart from a file that is not an export.
type passwordIdentity struct {
	*age.ScryptIdentity
	wrong bool
}

func (p *passwordIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if len(stanzas) != 1 || stanzas[0].Type != "scrypt" {
		return nil, errors.New("not sealed with a password alone")
	}
	key, err := p.ScryptIdentity.Unwrap(stanzas)
	if errors.Is(err, age.ErrIncorrectIdentity) {
		p.wrong = true
	}
	return key, err
}

// readExport decrypts an export from r and writes its database into dir.
func readExport(ctx context.Context, r io.Reader, password, dir string) (*exportManifest, error) {
	if password == "" {
		return nil, fmt.Errorf("%w: the password is empty", ErrWrongPassword)
	}
	sid, err := age.NewScryptIdentity(password)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWrongPassword, err)
	}
	sid.SetMaxWorkFactor(importMaxWorkFactor)
	id := &passwordIdentity{ScryptIdentity: sid}
	plain, err := age.Decrypt(r, id)
	switch {
	case err != nil && id.wrong:
		return nil, fmt.Errorf("%w for this export file", ErrWrongPassword)
	case err != nil:
		return nil, badExport("not a Parley export file (%v)", err)
	}
	return readArchive(ctx, plain, dir)
}

// readArchive reads the decrypted archive: the manifest, then the
// database, which it writes to dir/parley.db, then the end of the stream.
// Errors the age reader reports (a damaged or truncated file) come up
// through the reads.
func readArchive(ctx context.Context, plain io.Reader, dir string) (*exportManifest, error) {
	damaged := func(err error) error {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return badExport("the file is truncated")
		}
		return badExport("the file is damaged (%v)", err)
	}
	// gzip reads through br byte by byte (an io.ByteReader), so whatever
	// follows its stream stays in br for the checks at the end.
	br := bufio.NewReader(ctxReader{ctx, plain})
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, damaged(err)
	}
	gz.Multistream(false)
	tr := tar.NewReader(gz)

	next := func(name string, limit int64) (*tar.Header, error) {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, badExport("the archive has no %s", name)
		} else if err != nil {
			return nil, damaged(err)
		}
		switch {
		case h.Name != name:
			return nil, badExport("unexpected entry %q in the archive (want %q)", h.Name, name)
		case h.Typeflag != tar.TypeReg:
			return nil, badExport("entry %q is not a regular file", h.Name)
		case h.Size < 0 || h.Size > limit:
			return nil, badExport("entry %q is %d bytes (at most %d)", h.Name, h.Size, limit)
		}
		return h, nil
	}

	if _, err := next(manifestName, maxManifest); err != nil {
		return nil, err
	}
	mb, err := io.ReadAll(io.LimitReader(tr, maxManifest))
	if err != nil {
		return nil, damaged(err)
	}
	var m exportManifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, badExport("bad manifest: %v", err)
	}
	switch {
	case m.Format != exportFormat:
		return nil, badExport("manifest format %q is not %q", m.Format, exportFormat)
	case m.Version > exportVersion:
		return nil, badExport("export format version %d is newer than this Parley's (%d): upgrade Parley", m.Version, exportVersion)
	case m.Version < 1:
		return nil, badExport("bad export format version %d", m.Version)
	}

	h, err := next(DBFile, maxImportDB)
	if err != nil {
		return nil, err
	}
	if h.Size != m.DBSize {
		return nil, badExport("the database is %d bytes, the manifest says %d", h.Size, m.DBSize)
	}
	f, err := os.OpenFile(filepath.Join(dir, DBFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, exportFileMode)
	if err != nil {
		return nil, fmt.Errorf("profile: import: %w", err)
	}
	sum := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, sum), tr, h.Size)
	if err != nil {
		f.Close()
		return nil, damaged(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("profile: import: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("profile: import: %w", err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != m.DBSHA256 {
		return nil, badExport("the database's checksum is not the manifest's")
	}

	if h, err := tr.Next(); err == nil {
		return nil, badExport("unexpected entry %q in the archive", h.Name)
	} else if err != io.EOF {
		return nil, damaged(err)
	}
	// The rest: the gzip stream's end, then the age stream's, whose last
	// chunk proves the file was not cut short.
	if n, err := io.Copy(io.Discard, io.LimitReader(gz, maxTrailing+1)); err != nil {
		return nil, damaged(err)
	} else if n > maxTrailing {
		return nil, badExport("data after the archive")
	}
	if n, err := io.Copy(io.Discard, io.LimitReader(br, 1)); err != nil {
		return nil, damaged(err)
	} else if n != 0 {
		return nil, badExport("data after the archive")
	}
	return &m, nil
}

// checkImported checks the database at path as a file from elsewhere and
// that it holds the manifest's identity.
func checkImported(ctx context.Context, path string, m *exportManifest) error {
	if err := store.CheckForeign(ctx, path); err != nil {
		return fmt.Errorf("%w: %w", ErrBadExport, err)
	}
	db, err := store.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadExport, err)
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrBadExport, err)
	}
	ident, err := db.Identity(ctx)
	if err != nil {
		return badExport("the database has no identity (%v)", err)
	}
	id, err := identity.FromSeed(ident.PrivateKeySeed)
	if err != nil {
		return badExport("the database's identity: %v", err)
	}
	if id.NodeID().String() != m.NodeID || ident.Username != m.Username {
		return badExport("the database's identity (%s, %q) is not the manifest's (%s, %q)", id.NodeID().Short(), ident.Username, m.NodeID, m.Username)
	}
	return nil
}
