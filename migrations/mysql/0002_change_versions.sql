-- The change feed (docs/decisions/0003-change-feed.md): every write to subjects, faces, doors,
-- grants or tokens bumps its writer's row for that kind in the same transaction; each
-- controller polls this small table and reloads only the kinds whose rows moved.
-- One row per (writer, kind), never an auto-increment id: on a Galera cluster commits from
-- different nodes may land in any order and auto-increment ids are interleaved, so a cursor
-- over a log could skip a change; comparing every row's version cannot. Each controller writes
-- only its own rows, so two nodes never certify against the same row.
CREATE TABLE change_versions (
    writer     VARCHAR(64) NOT NULL,
    kind       VARCHAR(16) NOT NULL,
    version    BIGINT      NOT NULL,
    updated_ms BIGINT      NOT NULL,
    PRIMARY KEY (writer, kind)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
