-- A chunked encode's progress: chunks done out of all, and its workers.

-- +goose Up
ALTER TABLE assets ADD COLUMN progress_chunks_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assets ADD COLUMN progress_chunks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assets ADD COLUMN progress_workers INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE assets DROP COLUMN progress_workers;
ALTER TABLE assets DROP COLUMN progress_chunks;
ALTER TABLE assets DROP COLUMN progress_chunks_done;
