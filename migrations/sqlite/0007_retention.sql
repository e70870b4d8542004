-- Retention (docs/privacy.md, "Retention"). Keep in step with migrations/mysql/0007_retention.sql.
--
-- `status_ms`: when the subject's status last changed (a discharge, a deactivation), which is
-- where a retention period starts; rows from before this migration start at their last update.
-- `last_seen_ms`: the newest decision at any door that named the person, folded in from the
-- event log by the retention job, so pruning old events never makes a person look idle.
ALTER TABLE subjects ADD COLUMN status_ms INTEGER;
ALTER TABLE subjects ADD COLUMN last_seen_ms INTEGER;
UPDATE subjects SET status_ms = updated_ms;

-- The retention job looks a person's last decision up as staff and as patient.
CREATE INDEX events_patient ON events (patient_id, ts_ms);

-- The pruned prefix of each node's chain: its last event's seq and hash and how many events
-- were pruned, so the remaining chain verifies from here (src/audit.rs, `Verifier::resume`).
CREATE TABLE event_prunes (
    node        TEXT    NOT NULL PRIMARY KEY,
    through_seq INTEGER NOT NULL,
    last_hash   TEXT    NOT NULL,
    pruned      INTEGER NOT NULL,
    pruned_ms   INTEGER NOT NULL
);

-- Jobs that one controller at a time runs on a shared database: who holds the lease, until
-- when, and when the job last finished.
CREATE TABLE job_runs (
    job            TEXT    NOT NULL PRIMARY KEY,
    holder         TEXT    NOT NULL,
    lease_until_ms INTEGER NOT NULL,
    last_run_ms    INTEGER
);

-- Events stay append-only except for a prefix a checkpoint above covers.
DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN OLD.seq > COALESCE((SELECT through_seq FROM event_prunes WHERE node = OLD.node), 0)
BEGIN SELECT RAISE(ABORT, 'events are append-only (only a checkpointed prefix is pruned)'); END;
