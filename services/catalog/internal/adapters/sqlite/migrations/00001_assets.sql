-- Assets, their renditions, and the events already projected.
-- Written by the hand-rolled migrator as version 1 before goose: never edit.

-- +goose Up
CREATE TABLE assets (
	id                TEXT PRIMARY KEY,
	owner             TEXT    NOT NULL DEFAULT '',
	title             TEXT    NOT NULL DEFAULT '',
	source_key        TEXT    NOT NULL DEFAULT '',
	duration_seconds  REAL    NOT NULL DEFAULT 0,
	width             INTEGER NOT NULL DEFAULT 0,
	height            INTEGER NOT NULL DEFAULT 0,
	source_bytes      INTEGER NOT NULL DEFAULT 0,
	status            TEXT    NOT NULL CHECK (status IN ('uploaded', 'encoding', 'ready', 'failed')),
	error             TEXT    NOT NULL DEFAULT '',
	retryable         INTEGER NOT NULL DEFAULT 0,
	progress_percent  REAL    NOT NULL DEFAULT 0,
	progress_eta      REAL    NOT NULL DEFAULT 0,
	progress_at       INTEGER NOT NULL DEFAULT 0,
	backend           TEXT    NOT NULL DEFAULT '',
	job_id            TEXT    NOT NULL DEFAULT '',
	attempt           INTEGER NOT NULL DEFAULT 0,
	job_at            INTEGER NOT NULL DEFAULT 0,
	hls_key           TEXT    NOT NULL DEFAULT '',
	dash_key          TEXT    NOT NULL DEFAULT '',
	hls_url           TEXT    NOT NULL DEFAULT '',
	dash_url          TEXT    NOT NULL DEFAULT '',
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	ready_at          INTEGER NOT NULL DEFAULT 0,
	ready_transitions INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX assets_by_created ON assets (created_at DESC, id DESC);
CREATE INDEX assets_by_status ON assets (status, created_at DESC, id DESC);
CREATE INDEX assets_by_owner ON assets (owner, created_at DESC, id DESC);
CREATE TABLE renditions (
	asset_id        TEXT    NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
	position        INTEGER NOT NULL,
	width           INTEGER NOT NULL,
	height          INTEGER NOT NULL,
	bitrate         INTEGER NOT NULL,
	average_bitrate INTEGER NOT NULL,
	codec           TEXT    NOT NULL,
	codecs          TEXT    NOT NULL,
	frame_rate      REAL    NOT NULL,
	bytes           INTEGER NOT NULL,
	quality         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(quality)),
	PRIMARY KEY (asset_id, position)
) WITHOUT ROWID;
CREATE TABLE processed_events (
	consumer     TEXT    NOT NULL,
	event_id     TEXT    NOT NULL,
	processed_at INTEGER NOT NULL,
	PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
CREATE INDEX processed_events_by_time ON processed_events (processed_at);

-- +goose Down
DROP TABLE processed_events;
DROP TABLE renditions;
DROP TABLE assets;
