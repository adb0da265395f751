-- announcing: the session's object is being (or was) announced as an asset's
-- source; the janitor then forgets the session but never deletes the object.

-- +goose Up
ALTER TABLE ingest_upload_sessions ADD COLUMN announcing INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE ingest_upload_sessions DROP COLUMN announcing;
