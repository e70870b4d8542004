-- Consent to face recognition, one record per person (docs/privacy.md, "Consent"). Keep in step
-- with migrations/sqlite/0006_consents.sql. A withdrawn record stays, with when and by whom.
CREATE TABLE consents (
    subject_id   VARCHAR(64)  NOT NULL PRIMARY KEY,
    scope        VARCHAR(32)  NOT NULL,
    method       VARCHAR(16)  NOT NULL,
    document     VARCHAR(255) NOT NULL,
    recorded_by  VARCHAR(128) NOT NULL,
    recorded_ms  BIGINT       NOT NULL,
    withdrawn_ms BIGINT       NULL,
    withdrawn_by VARCHAR(128) NULL,
    CONSTRAINT consents_subject_fk FOREIGN KEY (subject_id) REFERENCES subjects (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
