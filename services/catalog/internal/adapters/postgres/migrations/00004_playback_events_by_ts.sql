-- Retention deletes events by age, and an admin's summary since a date reads
-- every asset's events by time: both need ts alone.

-- +goose Up
CREATE INDEX playback_events_by_ts ON playback_events (ts);

-- +goose Down
DROP INDEX playback_events_by_ts;
