-- 0001_init: the initial Parley profile schema.
-- Times are unix milliseconds; 0 means "never".

-- Marks the file as a Parley database ("Prly").
PRAGMA application_id = 1349676153;

-- The profile's own identity: exactly one row, written once at sign-up.
CREATE TABLE identity (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key BLOB    NOT NULL,  -- 32-byte ed25519 seed
    username    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Small key/value preferences.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Known peers used to rejoin the network, with connection statistics.
CREATE TABLE host_cache (
    node_id      BLOB    PRIMARY KEY,  -- 32 bytes
    addr         TEXT    NOT NULL,
    last_success INTEGER NOT NULL DEFAULT 0,
    last_failure INTEGER NOT NULL DEFAULT 0,
    successes    INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    added_at     INTEGER NOT NULL
);

-- People the user talks to.
CREATE TABLE contacts (
    id         INTEGER PRIMARY KEY,
    username   TEXT    NOT NULL UNIQUE,
    public_key BLOB,
    state      TEXT    NOT NULL,
    verified   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Chat history, per contact. (sender, msg_id) identifies a message on the
-- wire and makes delivery idempotent.
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    sender     BLOB    NOT NULL,
    msg_id     BLOB    NOT NULL,
    outgoing   INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    sent_at    INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    UNIQUE (sender, msg_id)
);

CREATE INDEX messages_contact_sent ON messages (contact_id, sent_at);

-- Call history, per contact.
CREATE TABLE calls (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    outgoing    INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT    NOT NULL
);

-- Also serves ON DELETE CASCADE from contacts.
CREATE INDEX calls_contact_started ON calls (contact_id, started_at);
