-- 0002_chat: contacts, messages and calls as the chat layer needs them, the
-- durable send queue (outbox) and envelope replay protection (seen_envelopes).
-- Times are unix milliseconds; 0 means "never" except where a column is
-- nullable, and then NULL does.
--
-- 0001 created contacts, messages and calls without any code writing to them.
-- They are rebuilt here; rows a database may hold anyway are carried over
-- where they fit the new constraints (see the INSERTs at the end): a contact
-- needs a 32-byte public key, and its node ID is computed with
-- parley_sha256, a function the store package registers with the driver.

-- The 0001 indexes go with their tables; drop them first so that the new
-- indexes can reuse their names.
DROP INDEX messages_contact_sent;
DROP INDEX calls_contact_started;
-- Renaming a table rewrites the foreign keys that refer to it, so v1_messages
-- and v1_calls refer to v1_contacts from here on.
ALTER TABLE contacts RENAME TO v1_contacts;
ALTER TABLE messages RENAME TO v1_messages;
ALTER TABLE calls RENAME TO v1_calls;

-- People the user talks to, or who asked to talk to the user.
CREATE TABLE contacts (
    id              INTEGER PRIMARY KEY,
    -- Case-folded. Unique among contacts that are not 'removed'.
    username        TEXT    NOT NULL CHECK (username <> '' AND username = lower(username)),
    -- The pinned ed25519 public key and its node ID, SHA-256(public_key).
    public_key      BLOB    NOT NULL CHECK (length(public_key) = 32),
    node_id         BLOB    NOT NULL CHECK (length(node_id) = 32),
    -- A different key seen for this username that the user has not accepted.
    pending_key     BLOB    CHECK (pending_key IS NULL OR length(pending_key) = 32),
    -- 'blocked' means the user blocked them.
    state           TEXT    NOT NULL CHECK (state IN
                        ('outgoing', 'incoming', 'accepted', 'declined', 'blocked', 'removed')),
    request_message TEXT    NOT NULL DEFAULT '',
    -- Whether the user compared safety numbers for public_key.
    verified        INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- Removed contacts keep their rows (and history) but no longer count: a
-- username or node ID is unique among the others, which is also what lookups
-- search. Incoming envelopes are matched to contacts by node ID.
CREATE UNIQUE INDEX contacts_username ON contacts (username) WHERE state <> 'removed';
CREATE UNIQUE INDEX contacts_node_id ON contacts (node_id) WHERE state <> 'removed';

-- Chat history. (author, msg_id) identifies a message on the wire: the
-- receiver drops duplicates on it.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    msg_id      BLOB    NOT NULL CHECK (length(msg_id) = 16),
    author      BLOB    NOT NULL CHECK (length(author) = 32),
    direction   TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    body        TEXT    NOT NULL,
    sent_at     INTEGER NOT NULL,  -- the author's clock
    received_at INTEGER NOT NULL,  -- the local clock: received, or written if outgoing
    state       TEXT    NOT NULL CHECK (
                    (direction = 'out' AND state IN ('pending', 'sent', 'failed', 'delivered', 'read'))
                 OR (direction = 'in' AND state IN ('received', 'read'))),
    state_at    INTEGER NOT NULL,  -- when state was last set
    UNIQUE (author, msg_id)
) STRICT;

-- A conversation newest first, by (sent_at, id): id is the rowid, which
-- every index ends with, so this index serves the keyset pagination, the
-- last message of each contact and ON DELETE CASCADE.
CREATE INDEX messages_contact_sent ON messages (contact_id, sent_at);
-- Unread counts and MarkRead touch only unread incoming messages.
CREATE INDEX messages_unread ON messages (contact_id, sent_at)
    WHERE direction = 'in' AND state = 'received';

-- The durable send queue. Each row is retried until it is removed
-- (acknowledged) or expires.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind         INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 255),  -- opaque to the store
    msg_id       BLOB    NOT NULL CHECK (length(msg_id) = 16),
    payload      BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    expires_at   INTEGER NOT NULL  -- 0: never
) STRICT;

CREATE INDEX outbox_next_attempt ON outbox (next_attempt);
CREATE INDEX outbox_contact ON outbox (contact_id, kind, msg_id);
CREATE INDEX outbox_expires ON outbox (expires_at) WHERE expires_at <> 0;

-- Envelopes already accepted, kept until they could no longer pass the
-- envelope time window, so that a replayed envelope is recognised.
CREATE TABLE seen_envelopes (
    sender      BLOB    NOT NULL CHECK (length(sender) = 32),
    envelope_id BLOB    NOT NULL CHECK (length(envelope_id) = 16),
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (sender, envelope_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX seen_envelopes_expires ON seen_envelopes (expires_at);

-- The call log.
CREATE TABLE calls (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    call_id     BLOB    NOT NULL UNIQUE CHECK (length(call_id) = 16),
    direction   TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    started_at  INTEGER NOT NULL,
    answered_at INTEGER,  -- NULL: never answered
    ended_at    INTEGER,  -- NULL: not finished
    -- NULL while the call is not finished.
    outcome     TEXT    CHECK (outcome IS NULL OR outcome IN
                    ('answered', 'missed', 'declined', 'busy', 'cancelled', 'failed')),
    reason      TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Also serves ON DELETE CASCADE from contacts.
CREATE INDEX calls_contact_started ON calls (contact_id, started_at);
CREATE INDEX calls_started ON calls (started_at);

-- Carry over 0001 rows. OR IGNORE skips rows that break a CHECK or UNIQUE
-- constraint (a contact without a 32-byte key, a second contact whose
-- username folds to one already taken, ...) instead of failing the
-- migration; messages and calls of a skipped contact are skipped with it.
-- States the new schema does not know become the most cautious state that
-- fits: a contact awaits the user's decision, an incoming message is unread.
INSERT OR IGNORE INTO contacts (id, username, public_key, node_id, state, verified, created_at, updated_at)
SELECT id, lower(trim(username)), public_key, parley_sha256(public_key),
       CASE WHEN state IN ('outgoing', 'incoming', 'accepted', 'declined', 'blocked', 'removed')
            THEN state ELSE 'incoming' END,
       verified <> 0, created_at, updated_at
FROM v1_contacts
WHERE typeof(public_key) = 'blob' AND length(public_key) = 32
ORDER BY id;

INSERT OR IGNORE INTO messages (id, contact_id, msg_id, author, direction, body, sent_at, received_at, state, state_at)
SELECT id, contact_id, msg_id, sender,
       CASE WHEN outgoing THEN 'out' ELSE 'in' END,
       body, sent_at, sent_at,
       CASE WHEN outgoing THEN
                CASE WHEN state IN ('pending', 'sent', 'failed', 'delivered', 'read') THEN state ELSE 'sent' END
            ELSE
                CASE WHEN state IN ('received', 'read') THEN state ELSE 'received' END
       END,
       sent_at
FROM v1_messages
WHERE contact_id IN (SELECT id FROM contacts)
ORDER BY id;

INSERT OR IGNORE INTO calls (id, contact_id, call_id, direction, started_at, ended_at, outcome)
SELECT id, contact_id, randomblob(16),
       CASE WHEN outgoing THEN 'out' ELSE 'in' END,
       started_at, started_at + duration_ms,
       CASE WHEN outcome IN ('answered', 'missed', 'declined', 'busy', 'cancelled', 'failed')
            THEN outcome ELSE 'failed' END
FROM v1_calls
WHERE contact_id IN (SELECT id FROM contacts)
ORDER BY id;

DROP TABLE v1_calls;
DROP TABLE v1_messages;
DROP TABLE v1_contacts;
