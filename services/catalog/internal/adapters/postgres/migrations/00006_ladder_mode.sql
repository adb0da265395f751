-- How the ready encoding chose its ladder (EncodingFinished.ladder_mode):
-- the web app names the mode beside its report.

-- +goose Up
ALTER TABLE assets ADD COLUMN ladder_mode TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE assets DROP COLUMN ladder_mode;
