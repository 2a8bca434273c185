// Package store is Parley's local persistence: one SQLite database per user
// profile, accessed through the pure-Go modernc.org/sqlite driver.
//
// # The database
//
// Each profile has a single database file holding everything Parley keeps
// about that profile. Open opens (or creates) it in WAL journal mode with
// synchronous=NORMAL, foreign keys enforced and a busy timeout, so that many
// readers can run concurrently with one writer. A DB keeps one writer
// connection, through which all writes go in turn, and a small pool of
// query-only connections for reads.
//
// # Migrations
//
// The schema is defined by numbered SQL files embedded in the binary
// (migrations/0001_init.sql, 0002_....sql, ...). The number of the last
// migration applied is the file's schema version, stored in the SQLite header
// as PRAGMA user_version; Open applies the missing migrations in order, each
// in its own transaction. Migration 0001 also sets PRAGMA application_id to
// "Prly" to mark the file as Parley's. Migrations are append-only: never edit
// one that has shipped, add a new one.
//
// Before anything writes to an existing file, Open inspects it through a
// read-only connection. A file from a newer Parley (schema version greater
// than the number of migrations this binary knows) is refused with
// ErrNewerSchema, and a file that is not a valid Parley database (not SQLite,
// damaged, failing PRAGMA quick_check, or another application's database) is
// refused with ErrCorrupt. Either way the file is left unmodified.
//
// # Tables
//
//   - identity: the profile's own identity, a single row holding the 32-byte
//     ed25519 private key seed, the username and the creation time.
//   - settings: key/value preferences.
//   - host_cache: up to MaxHostCache known peers (node ID and address) with
//     connection statistics, used to rejoin the network on start-up; see
//     Hosts for how entries are ranked.
//   - contacts: people the user talks to or who asked to, with their pinned
//     public key and its node ID, a new key awaiting the user's acceptance,
//     the state of the relationship and whether the key has been verified.
//     A removed contact keeps its row and history but no longer counts:
//     usernames and node IDs are unique among the other contacts.
//   - messages: chat history per contact; (author, msg_id) identifies a
//     message, so that redelivery is idempotent. Message states only move
//     forward. Conversations are read newest first with keyset pagination
//     on (sent_at, id).
//   - outbox: the durable send queue. An outgoing message is written to
//     messages and queued here in one transaction before it is sent; items
//     are retried until removed (acknowledged) or expired.
//   - seen_envelopes: (sender, envelope ID) of envelopes already accepted,
//     until they expire, so that replays are dropped.
//   - calls: the call log per contact.
//
// Deleting a contact row deletes its messages, outbox items and calls. All
// times are stored as unix milliseconds, with 0 meaning "never" (the zero
// time.Time); the calls table's answered_at and ended_at use NULL instead.
package store
