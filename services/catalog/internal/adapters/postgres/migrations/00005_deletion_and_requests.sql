-- Tombstones of deleted assets: events of a deleted asset that arrive late or
-- again must not bring it back. And the latest encoding request of each asset,
-- which POST /v1/assets/{id}/retry repeats as a new attempt.

-- +goose Up
CREATE TABLE deleted_assets (
	id         TEXT   PRIMARY KEY,
	deleted_at BIGINT NOT NULL
);
CREATE TABLE encoding_requests (
	asset_id    TEXT   PRIMARY KEY,
	event_id    TEXT   NOT NULL,
	occurred_at BIGINT NOT NULL,
	body        BYTEA  NOT NULL
);

-- +goose Down
DROP TABLE encoding_requests;
DROP TABLE deleted_assets;
