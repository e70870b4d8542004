-- Consent to face recognition, one record per person (docs/privacy.md, "Consent"). Keep in step
-- with migrations/mysql/0006_consents.sql. A withdrawn record stays, with when and by whom.
CREATE TABLE consents (
    subject_id   TEXT    NOT NULL PRIMARY KEY REFERENCES subjects (id) ON DELETE CASCADE,
    scope        TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    document     TEXT    NOT NULL,
    recorded_by  TEXT    NOT NULL,
    recorded_ms  INTEGER NOT NULL,
    withdrawn_ms INTEGER,
    withdrawn_by TEXT
);
