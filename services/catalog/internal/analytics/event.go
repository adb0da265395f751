// Package analytics takes playback beacons from players (startup time, bitrate
// switches, stalls, errors, heartbeats), stores them and answers quality-of-
// experience reports per asset and per owner.
package analytics

import (
	"fmt"
	"math"
	"time"
)

// Type is what happened in the player.
type Type string

// Event types.
const (
	PlayStart     Type = "play_start"
	Startup       Type = "startup"
	BitrateSwitch Type = "bitrate_switch"
	Stall         Type = "stall"
	Error         Type = "error"
	Heartbeat     Type = "heartbeat"
)

func (t Type) valid() bool {
	switch t {
	case PlayStart, Startup, BitrateSwitch, Stall, Error, Heartbeat:
		return true
	}
	return false
}

// Event is one beacon. Which fields matter depends on Type (README "Player
// analytics"): a heartbeat carries the seconds played since the previous heartbeat
// and the rendition playing (width, height, to_bitrate), so that sums over
// heartbeats give watch time, time per rendition and the delivered bitrate.
type Event struct {
	Type      Type   `json:"type"`
	AssetID   string `json:"asset_id"`
	SessionID string `json:"session_id"`
	ViewerID  string `json:"viewer_id"`
	// TS is when it happened in the player, in milliseconds since the Unix epoch.
	TS              int64   `json:"ts"`
	StartupMS       int64   `json:"startup_ms,omitempty"`
	FromBitrate     int64   `json:"from_bitrate,omitempty"`
	ToBitrate       int64   `json:"to_bitrate,omitempty"`
	Width           int     `json:"width,omitempty"`
	Height          int     `json:"height,omitempty"`
	StallMS         int64   `json:"stall_ms,omitempty"`
	ErrorCode       string  `json:"error_code,omitempty"`
	Message         string  `json:"message,omitempty"`
	WatchedSeconds  float64 `json:"watched_seconds,omitempty"`
	BytesDownloaded int64   `json:"bytes_downloaded,omitempty"`
}

// Time is TS as a time.
func (e Event) Time() time.Time { return time.UnixMilli(e.TS).UTC() }

// Bounds of a batch and of the values in an event. Anything outside is a broken or
// hostile client, refused rather than allowed to skew every report.
const (
	MaxBatchEvents   = 100
	MaxBatchBytes    = 64 << 10
	MaxIDLen         = 128
	MaxStartupMS     = 10 * 60 * 1000
	MaxStallMS       = 60 * 60 * 1000
	MaxBitrate       = 1_000_000_000
	MaxDimension     = 16384
	MaxWatched       = 15 * 60 // seconds per heartbeat
	MaxBytes         = 1 << 40
	MaxErrorCodeLen  = 64
	MaxMessageLen    = 1024
	MaxEventAge      = 7 * 24 * time.Hour
	MaxClockSkew     = 10 * time.Minute
	maxBitrateSwitch = MaxBitrate
)

// FieldError names the offending field of a refused event.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func validID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// Validate checks e at time now; the error is a *FieldError.
func (e Event) Validate(now time.Time) error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	between := func(field string, v, lo, hi int64) error {
		if v < lo || v > hi {
			return bad(field, "must be between %d and %d", lo, hi)
		}
		return nil
	}
	if !e.Type.valid() {
		return bad("type", "unknown type %q (want play_start, startup, bitrate_switch, stall, error or heartbeat)", e.Type)
	}
	for _, f := range []struct{ name, v string }{{"asset_id", e.AssetID}, {"session_id", e.SessionID}, {"viewer_id", e.ViewerID}} {
		if !validID(f.v) {
			return bad(f.name, "is required: 1 to %d characters of [A-Za-z0-9._:-]", MaxIDLen)
		}
	}
	if t := e.Time(); e.TS <= 0 || t.Before(now.Add(-MaxEventAge)) || t.After(now.Add(MaxClockSkew)) {
		return bad("ts", "must be milliseconds since the Unix epoch, within the last 7 days")
	}
	for _, c := range []struct {
		name   string
		v, max int64
	}{
		{"startup_ms", e.StartupMS, MaxStartupMS}, {"from_bitrate", e.FromBitrate, MaxBitrate},
		{"to_bitrate", e.ToBitrate, maxBitrateSwitch}, {"width", int64(e.Width), MaxDimension},
		{"height", int64(e.Height), MaxDimension}, {"stall_ms", e.StallMS, MaxStallMS},
		{"bytes_downloaded", e.BytesDownloaded, MaxBytes},
	} {
		if err := between(c.name, c.v, 0, c.max); err != nil {
			return err
		}
	}
	if math.IsNaN(e.WatchedSeconds) || e.WatchedSeconds < 0 || e.WatchedSeconds > MaxWatched {
		return bad("watched_seconds", "must be between 0 and %d", MaxWatched)
	}
	if len(e.ErrorCode) > MaxErrorCodeLen {
		return bad("error_code", "is longer than %d characters", MaxErrorCodeLen)
	}
	if len(e.Message) > MaxMessageLen {
		return bad("message", "is longer than %d characters", MaxMessageLen)
	}
	switch e.Type {
	case Startup:
		if e.StartupMS <= 0 {
			return bad("startup_ms", "is required for startup events")
		}
	case BitrateSwitch:
		if e.ToBitrate <= 0 {
			return bad("to_bitrate", "is required for bitrate_switch events")
		}
	case Stall:
		if e.StallMS <= 0 {
			return bad("stall_ms", "is required for stall events")
		}
	case Error:
		if e.ErrorCode == "" {
			return bad("error_code", "is required for error events")
		}
	case Heartbeat:
		if e.WatchedSeconds <= 0 {
			return bad("watched_seconds", "is required for heartbeat events")
		}
	}
	return nil
}
