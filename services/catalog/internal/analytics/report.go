package analytics

import (
	"sort"
	"time"
)

// Report is the quality of experience of a set of plays.
type Report struct {
	// Assets counts the assets with events (summaries only).
	Assets              int     `json:"assets,omitempty"`
	Plays               int     `json:"plays"`
	UniqueViewers       int     `json:"unique_viewers"`
	MedianStartupMS     float64 `json:"median_startup_ms"`
	WatchedSeconds      float64 `json:"watched_seconds"`
	StallSeconds        float64 `json:"stall_seconds"`
	RebufferRatio       float64 `json:"rebuffer_ratio"`
	AvgDeliveredBitrate float64 `json:"avg_delivered_bitrate"`
	BytesDownloaded     int64   `json:"bytes_downloaded"`
	// TimePerRendition is sorted by bitrate, highest first.
	TimePerRendition []RenditionTime `json:"time_per_rendition"`
	// Errors is sorted by count, most frequent first.
	Errors   []ErrorCount `json:"errors"`
	Timeline []Bucket     `json:"timeline"`
}

// RenditionTime is how long a rendition played.
type RenditionTime struct {
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	Bitrate int64   `json:"bitrate"`
	Seconds float64 `json:"seconds"`
}

// ErrorCount is how often an error code was reported.
type ErrorCount struct {
	Code  string `json:"code"`
	Count int    `json:"count"`
}

// Bucket is one interval of the timeline, starting at T.
type Bucket struct {
	T      time.Time `json:"t"`
	Plays  int       `json:"plays"`
	Stalls int       `json:"stalls"`
}

// MaxBuckets bounds the timeline: the most recent buckets are kept.
const MaxBuckets = 1000

type rendition struct {
	w, h int
	b    int64
}

// Aggregator folds events into a Report in memory: the reference the stores'
// SQL aggregation is tested against (analyticstest). The zero value is not
// usable: NewAggregator.
type Aggregator struct {
	interval      time.Duration
	assets        map[string]struct{}
	plays         map[string]struct{} // session ids with play_start
	viewers       map[string]struct{}
	startups      []int64
	watched       float64
	bitrateTime   float64 // sum of bitrate × seconds over heartbeats that name a bitrate
	bitrateWeight float64
	stallMS       int64
	bytes         int64
	renditions    map[rendition]float64
	errors        map[string]int
	buckets       map[int64]*Bucket
}

// NewAggregator returns an aggregator with a timeline of interval buckets.
func NewAggregator(interval time.Duration) *Aggregator {
	if interval <= 0 {
		interval = time.Hour
	}
	return &Aggregator{interval: interval, assets: map[string]struct{}{}, plays: map[string]struct{}{},
		viewers: map[string]struct{}{}, renditions: map[rendition]float64{}, errors: map[string]int{},
		buckets: map[int64]*Bucket{}}
}

func (a *Aggregator) bucket(e Event) *Bucket {
	start := e.Time().Truncate(a.interval)
	k := start.UnixNano()
	b := a.buckets[k]
	if b == nil {
		b = &Bucket{T: start}
		a.buckets[k] = b
	}
	return b
}

// Add folds in one event.
func (a *Aggregator) Add(e Event) {
	a.assets[e.AssetID] = struct{}{}
	switch e.Type {
	case PlayStart:
		// A session is one play, however often its play_start was sent.
		k := e.AssetID + "\x00" + e.SessionID
		if _, seen := a.plays[k]; !seen {
			a.plays[k] = struct{}{}
			a.bucket(e).Plays++
		}
		a.viewers[e.ViewerID] = struct{}{}
	case Startup:
		a.startups = append(a.startups, e.StartupMS)
	case Stall:
		a.stallMS += e.StallMS
		a.bucket(e).Stalls++
	case Error:
		a.errors[e.ErrorCode]++
	case Heartbeat:
		a.watched += e.WatchedSeconds
		if e.ToBitrate > 0 {
			a.bitrateTime += float64(e.ToBitrate) * e.WatchedSeconds
			a.bitrateWeight += e.WatchedSeconds
		}
		if e.ToBitrate > 0 || e.Width > 0 {
			a.renditions[rendition{e.Width, e.Height, e.ToBitrate}] += e.WatchedSeconds
		}
	}
	a.bytes += e.BytesDownloaded
}

// Report computes the report of what was added.
func (a *Aggregator) Report() Report {
	s := Sums{Assets: len(a.assets), Plays: len(a.plays), UniqueViewers: len(a.viewers),
		MedianStartupMS: median(a.startups), WatchedSeconds: a.watched, StallMS: a.stallMS,
		BitrateSeconds: a.bitrateTime, BitrateWeight: a.bitrateWeight, BytesDownloaded: a.bytes}
	for k, secs := range a.renditions {
		s.Renditions = append(s.Renditions, RenditionTime{Width: k.w, Height: k.h, Bitrate: k.b, Seconds: secs})
	}
	for c, n := range a.errors {
		s.Errors = append(s.Errors, ErrorCount{Code: c, Count: n})
	}
	for _, b := range a.buckets {
		s.Timeline = append(s.Timeline, *b)
	}
	return s.Report()
}

// Bounds of a report, whatever the number of events: the renditions watched
// longest, the most frequent error codes, and (MaxBuckets) the latest buckets.
const (
	MaxRenditions = 100
	MaxErrorCodes = 100
)

// Sums are the aggregates a report is made of. A store computes them where the
// events are (in SQL) and Report finishes them, so that every store and the
// Aggregator answer the same numbers.
type Sums struct {
	Assets, Plays, UniqueViewers int
	MedianStartupMS              float64
	WatchedSeconds               float64
	StallMS                      int64
	// BitrateSeconds is the sum of bitrate × seconds over the heartbeats that name
	// a bitrate, BitrateWeight the sum of their seconds.
	BitrateSeconds, BitrateWeight float64
	BytesDownloaded               int64
	Renditions                    []RenditionTime
	Errors                        []ErrorCount
	Timeline                      []Bucket
}

// Report derives the ratios, sorts, and keeps the bounded lists within their bounds.
func (s Sums) Report() Report {
	r := Report{Assets: s.Assets, Plays: s.Plays, UniqueViewers: s.UniqueViewers, MedianStartupMS: s.MedianStartupMS,
		WatchedSeconds: s.WatchedSeconds, StallSeconds: float64(s.StallMS) / 1000, BytesDownloaded: s.BytesDownloaded,
		TimePerRendition: append([]RenditionTime{}, s.Renditions...), Errors: append([]ErrorCount{}, s.Errors...),
		Timeline: append([]Bucket{}, s.Timeline...)}
	if s.WatchedSeconds > 0 {
		r.RebufferRatio = r.StallSeconds / s.WatchedSeconds
	}
	if s.BitrateWeight > 0 {
		r.AvgDeliveredBitrate = s.BitrateSeconds / s.BitrateWeight
	}
	if len(r.TimePerRendition) > MaxRenditions {
		sort.Slice(r.TimePerRendition, func(i, j int) bool { return LongerWatched(r.TimePerRendition[i], r.TimePerRendition[j]) })
		r.TimePerRendition = r.TimePerRendition[:MaxRenditions]
	}
	sort.Slice(r.TimePerRendition, func(i, j int) bool {
		x, y := r.TimePerRendition[i], r.TimePerRendition[j]
		if x.Bitrate != y.Bitrate {
			return x.Bitrate > y.Bitrate
		}
		return x.Width*x.Height > y.Width*y.Height
	})
	sort.Slice(r.Errors, func(i, j int) bool {
		if r.Errors[i].Count != r.Errors[j].Count {
			return r.Errors[i].Count > r.Errors[j].Count
		}
		return r.Errors[i].Code < r.Errors[j].Code
	})
	if len(r.Errors) > MaxErrorCodes {
		r.Errors = r.Errors[:MaxErrorCodes]
	}
	sort.Slice(r.Timeline, func(i, j int) bool { return r.Timeline[i].T.Before(r.Timeline[j].T) })
	if len(r.Timeline) > MaxBuckets {
		r.Timeline = r.Timeline[len(r.Timeline)-MaxBuckets:]
	}
	return r
}

// LongerWatched orders renditions for the MaxRenditions cut: most seconds first,
// then highest bitrate, width, height (stores sort the same way in SQL).
func LongerWatched(x, y RenditionTime) bool {
	switch {
	case x.Seconds != y.Seconds:
		return x.Seconds > y.Seconds
	case x.Bitrate != y.Bitrate:
		return x.Bitrate > y.Bitrate
	case x.Width != y.Width:
		return x.Width > y.Width
	}
	return x.Height > y.Height
}

func median(v []int64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	m := len(s) / 2
	if len(s)%2 == 1 {
		return float64(s[m])
	}
	return float64(s[m-1]+s[m]) / 2
}
