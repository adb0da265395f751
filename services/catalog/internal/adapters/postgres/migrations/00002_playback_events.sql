-- Player analytics beacons (services/catalog/internal/analytics). The owner is
-- copied from the asset when the beacon arrives, so summaries need no join.

-- +goose Up
CREATE TABLE playback_events (
	seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	asset_id         TEXT             NOT NULL,
	owner            TEXT             NOT NULL DEFAULT '',
	type             TEXT             NOT NULL,
	session_id       TEXT             NOT NULL,
	viewer_id        TEXT             NOT NULL,
	ts               BIGINT           NOT NULL,
	received_at      BIGINT           NOT NULL,
	startup_ms       BIGINT           NOT NULL DEFAULT 0,
	from_bitrate     BIGINT           NOT NULL DEFAULT 0,
	to_bitrate       BIGINT           NOT NULL DEFAULT 0,
	width            INTEGER          NOT NULL DEFAULT 0,
	height           INTEGER          NOT NULL DEFAULT 0,
	stall_ms         BIGINT           NOT NULL DEFAULT 0,
	error_code       TEXT             NOT NULL DEFAULT '',
	message          TEXT             NOT NULL DEFAULT '',
	watched_seconds  DOUBLE PRECISION NOT NULL DEFAULT 0,
	bytes_downloaded BIGINT           NOT NULL DEFAULT 0
);
CREATE INDEX playback_events_by_asset ON playback_events (asset_id, ts);
CREATE INDEX playback_events_by_owner ON playback_events (owner, ts);

-- +goose Down
DROP TABLE playback_events;
