-- Wardgate schema (SQLite). Keep in step with migrations/mysql/0001_initial.sql.
-- Times are UTC milliseconds since the epoch; ids are opaque strings.
CREATE TABLE subjects (
    id          TEXT PRIMARY KEY NOT NULL,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    status      TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);
CREATE INDEX subjects_role_status ON subjects (role, status);
CREATE INDEX subjects_source ON subjects (source);

CREATE TABLE faces (
    id         TEXT PRIMARY KEY NOT NULL,
    subject_id TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    model_id   TEXT NOT NULL,
    dim        INTEGER NOT NULL,
    vector     BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX faces_subject ON faces (subject_id);
CREATE INDEX faces_model ON faces (model_id);

CREATE TABLE doors (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    mode       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE grants (
    id          TEXT PRIMARY KEY NOT NULL,
    staff_id    TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    valid_from  INTEGER,
    valid_until INTEGER,
    source      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE INDEX grants_staff ON grants (staff_id);
CREATE INDEX grants_target ON grants (target_kind, target_id);
CREATE INDEX grants_source ON grants (source, revoked_ms);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    label        TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    last_used_ms INTEGER,
    revoked_ms   INTEGER
);

-- Append-only: the application never updates or deletes rows here; each node's rows form a
-- SHA-256 hash chain (see src/audit.rs). No foreign keys: the log outlives the people in it.
CREATE TABLE events (
    id         TEXT PRIMARY KEY NOT NULL,
    node       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    door_id    TEXT,
    subject_id TEXT,
    patient_id TEXT,
    granted    INTEGER,
    reason     TEXT NOT NULL,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    UNIQUE (node, seq)
);
CREATE INDEX events_ts ON events (ts_ms);
CREATE INDEX events_door ON events (door_id, ts_ms);
CREATE INDEX events_subject ON events (subject_id, ts_ms);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE sync_state (
    source     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    digest     TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (source, kind)
);
