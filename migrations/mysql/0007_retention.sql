-- Retention (docs/privacy.md, "Retention"). Keep in step with migrations/sqlite/0007_retention.sql.
--
-- `status_ms`: when the subject's status last changed (a discharge, a deactivation), which is
-- where a retention period starts; rows from before this migration start at their last update.
-- `last_seen_ms`: the newest decision at any door that named the person, folded in from the
-- event log by the retention job, so pruning old events never makes a person look idle.
ALTER TABLE subjects ADD COLUMN status_ms BIGINT NULL, ADD COLUMN last_seen_ms BIGINT NULL;
UPDATE subjects SET status_ms = updated_ms;

-- The retention job looks a person's last decision up as staff and as patient.
ALTER TABLE events ADD KEY events_patient (patient_id, ts_ms);

-- The pruned prefix of each node's chain: its last event's seq and hash and how many events
-- were pruned, so the remaining chain verifies from here (src/audit.rs, `Verifier::resume`).
CREATE TABLE event_prunes (
    node        VARCHAR(64) NOT NULL PRIMARY KEY,
    through_seq BIGINT      NOT NULL,
    last_hash   VARCHAR(64) NOT NULL,
    pruned      BIGINT      NOT NULL,
    pruned_ms   BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Jobs that one controller at a time runs on a shared database: who holds the lease, until
-- when, and when the job last finished.
CREATE TABLE job_runs (
    job            VARCHAR(64)  NOT NULL PRIMARY KEY,
    holder         VARCHAR(128) NOT NULL,
    lease_until_ms BIGINT       NOT NULL,
    last_run_ms    BIGINT       NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
