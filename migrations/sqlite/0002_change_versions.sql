-- The change feed (docs/decisions/0003-change-feed.md); keep in step with
-- migrations/mysql/0002_change_versions.sql. One row per (writer, kind), bumped in the same
-- transaction as the write it announces.
CREATE TABLE change_versions (
    writer     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (writer, kind)
);
