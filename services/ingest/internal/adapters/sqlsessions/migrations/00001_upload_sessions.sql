-- Direct upload sessions (S3 multipart, presigned parts). Portable SQL: the same
-- file runs on SQLite and PostgreSQL. Times are Unix milliseconds.

-- +goose Up
CREATE TABLE ingest_upload_sessions (
    id           TEXT    PRIMARY KEY,
    owner        TEXT    NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    part_size    BIGINT  NOT NULL,
    parts_total  INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    lease_until  BIGINT  NOT NULL DEFAULT 0,
    asset_id     TEXT    NOT NULL,
    object_key   TEXT    NOT NULL,
    upload_id    TEXT    NOT NULL,
    object_done  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ingest_upload_sessions_owner ON ingest_upload_sessions (owner, expires_at);
CREATE INDEX ingest_upload_sessions_expires_at ON ingest_upload_sessions (expires_at);

-- +goose Down
DROP TABLE ingest_upload_sessions;
