-- Wardgate schema (MySQL 8 / MariaDB 10.6+). Keep in step with migrations/sqlite/0001_initial.sql.
-- Times are UTC milliseconds since the epoch; ids are opaque strings.
CREATE TABLE subjects (
    id          VARCHAR(64)  NOT NULL PRIMARY KEY,
    external_id VARCHAR(128) NOT NULL,
    name        VARCHAR(255) NOT NULL,
    role        VARCHAR(16)  NOT NULL,
    status      VARCHAR(16)  NOT NULL,
    source      VARCHAR(64)  NOT NULL,
    created_ms  BIGINT       NOT NULL,
    updated_ms  BIGINT       NOT NULL,
    UNIQUE KEY subjects_external_id (external_id),
    KEY subjects_role_status (role, status),
    KEY subjects_source (source)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE faces (
    id         VARCHAR(64) NOT NULL PRIMARY KEY,
    subject_id VARCHAR(64) NOT NULL,
    model_id   VARCHAR(64) NOT NULL,
    dim        BIGINT      NOT NULL,
    vector     BLOB        NOT NULL,
    created_ms BIGINT      NOT NULL,
    KEY faces_subject (subject_id),
    KEY faces_model (model_id),
    CONSTRAINT faces_subject_fk FOREIGN KEY (subject_id) REFERENCES subjects (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE doors (
    id         VARCHAR(64)  NOT NULL PRIMARY KEY,
    name       VARCHAR(255) NOT NULL,
    mode       VARCHAR(32)  NOT NULL,
    created_ms BIGINT       NOT NULL,
    updated_ms BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE grants (
    id          VARCHAR(64) NOT NULL PRIMARY KEY,
    staff_id    VARCHAR(64) NOT NULL,
    target_kind VARCHAR(16) NOT NULL,
    target_id   VARCHAR(64) NOT NULL,
    valid_from  BIGINT NULL,
    valid_until BIGINT NULL,
    source      VARCHAR(64) NOT NULL,
    created_ms  BIGINT      NOT NULL,
    revoked_ms  BIGINT NULL,
    KEY grants_staff (staff_id),
    KEY grants_target (target_kind, target_id),
    KEY grants_source (source, revoked_ms),
    CONSTRAINT grants_staff_fk FOREIGN KEY (staff_id) REFERENCES subjects (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE api_tokens (
    id           VARCHAR(64)  NOT NULL PRIMARY KEY,
    label        VARCHAR(128) NOT NULL,
    role         VARCHAR(16)  NOT NULL,
    hash         VARCHAR(64)  NOT NULL,
    created_ms   BIGINT       NOT NULL,
    last_used_ms BIGINT NULL,
    revoked_ms   BIGINT NULL,
    UNIQUE KEY api_tokens_hash (hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Append-only: the application never updates or deletes rows here; each node's rows form a
-- SHA-256 hash chain (see src/audit.rs). No foreign keys: the log outlives the people in it.
CREATE TABLE events (
    id         VARCHAR(64)  NOT NULL PRIMARY KEY,
    node       VARCHAR(64)  NOT NULL,
    seq        BIGINT       NOT NULL,
    ts_ms      BIGINT       NOT NULL,
    kind       VARCHAR(32)  NOT NULL,
    door_id    VARCHAR(64)  NULL,
    subject_id VARCHAR(64)  NULL,
    patient_id VARCHAR(64)  NULL,
    granted    BIGINT       NULL,
    reason     VARCHAR(64)  NOT NULL,
    details    VARCHAR(8000) NOT NULL,
    prev_hash  VARCHAR(64)  NOT NULL,
    hash       VARCHAR(64)  NOT NULL,
    UNIQUE KEY events_node_seq (node, seq),
    KEY events_ts (ts_ms),
    KEY events_door (door_id, ts_ms),
    KEY events_subject (subject_id, ts_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sync_state (
    source     VARCHAR(64) NOT NULL,
    kind       VARCHAR(16) NOT NULL,
    version    BIGINT      NOT NULL,
    digest     VARCHAR(64) NOT NULL,
    updated_ms BIGINT      NOT NULL,
    PRIMARY KEY (source, kind)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
