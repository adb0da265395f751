-- Assets, their renditions, and the events already projected. The same tables
-- as SQLite's; times are Unix nanoseconds (BIGINT) as there, so that a round
-- trip keeps every digit and both adapters share their encoding.

-- +goose Up
CREATE TABLE assets (
	id                TEXT COLLATE "C" PRIMARY KEY, -- bytewise, as the list cursor compares ids
	owner             TEXT             NOT NULL DEFAULT '',
	title             TEXT             NOT NULL DEFAULT '',
	source_key        TEXT             NOT NULL DEFAULT '',
	duration_seconds  DOUBLE PRECISION NOT NULL DEFAULT 0,
	width             INTEGER          NOT NULL DEFAULT 0,
	height            INTEGER          NOT NULL DEFAULT 0,
	source_bytes      BIGINT           NOT NULL DEFAULT 0,
	status            TEXT             NOT NULL CHECK (status IN ('uploaded', 'encoding', 'ready', 'failed')),
	error             TEXT             NOT NULL DEFAULT '',
	retryable         BOOLEAN          NOT NULL DEFAULT FALSE,
	progress_percent  DOUBLE PRECISION NOT NULL DEFAULT 0,
	progress_eta      DOUBLE PRECISION NOT NULL DEFAULT 0,
	progress_at       BIGINT           NOT NULL DEFAULT 0,
	backend           TEXT             NOT NULL DEFAULT '',
	job_id            TEXT             NOT NULL DEFAULT '',
	attempt           INTEGER          NOT NULL DEFAULT 0,
	job_at            BIGINT           NOT NULL DEFAULT 0,
	hls_key           TEXT             NOT NULL DEFAULT '',
	dash_key          TEXT             NOT NULL DEFAULT '',
	hls_url           TEXT             NOT NULL DEFAULT '',
	dash_url          TEXT             NOT NULL DEFAULT '',
	created_at        BIGINT           NOT NULL,
	updated_at        BIGINT           NOT NULL,
	ready_at          BIGINT           NOT NULL DEFAULT 0,
	ready_transitions INTEGER          NOT NULL DEFAULT 0
);
CREATE INDEX assets_by_created ON assets (created_at DESC, id DESC);
CREATE INDEX assets_by_status ON assets (status, created_at DESC, id DESC);
CREATE INDEX assets_by_owner ON assets (owner, created_at DESC, id DESC);
CREATE TABLE renditions (
	asset_id        TEXT COLLATE "C" NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
	position        INTEGER          NOT NULL,
	width           INTEGER          NOT NULL,
	height          INTEGER          NOT NULL,
	bitrate         BIGINT           NOT NULL,
	average_bitrate BIGINT           NOT NULL,
	codec           TEXT             NOT NULL,
	codecs          TEXT             NOT NULL,
	frame_rate      DOUBLE PRECISION NOT NULL,
	bytes           BIGINT           NOT NULL,
	quality         JSONB            NOT NULL DEFAULT '[]',
	PRIMARY KEY (asset_id, position)
);
CREATE TABLE processed_events (
	consumer     TEXT   NOT NULL,
	event_id     TEXT   NOT NULL,
	processed_at BIGINT NOT NULL,
	PRIMARY KEY (consumer, event_id)
);
CREATE INDEX processed_events_by_time ON processed_events (processed_at);

-- +goose Down
DROP TABLE processed_events;
DROP TABLE renditions;
DROP TABLE assets;
