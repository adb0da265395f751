package bus

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/videometrics"
)

// queueDepth is how many messages a queue holds, as the broker approximates.
type queueDepth struct{ visible, inFlight, delayed int64 }

// queueWatchEvery is how often the depth of each consumed queue is read.
const queueWatchEvery = 15 * time.Second

// queueAges tracks, per queue, how long the messages this consumer receives
// have waited, for pertitle_queue_oldest_message_age_seconds.
type queueAges struct {
	mu     sync.Mutex
	oldest map[string]time.Duration // longest wait received since the last tick
	age    map[string]time.Duration // the gauge's value at the last tick
}

// saw records a message of queue published at sent (its event's time).
func (a *queueAges) saw(queue string, sent time.Time) {
	if sent.IsZero() {
		return
	}
	wait := max(time.Since(sent), 0)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.oldest == nil {
		a.oldest, a.age = map[string]time.Duration{}, map[string]time.Duration{}
	}
	if wait > a.oldest[queue] {
		a.oldest[queue] = wait
	}
}

// tick returns the age of the oldest message waiting in queue: 0 when none
// waits; else the longest wait received since the last tick or, when nothing
// was received meanwhile, the last age grown by the time since.
func (a *queueAges) tick(queue string, waiting bool, since time.Duration) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.oldest == nil {
		a.oldest, a.age = map[string]time.Duration{}, map[string]time.Duration{}
	}
	seen, ok := a.oldest[queue]
	delete(a.oldest, queue)
	switch {
	case !waiting:
		a.age[queue] = 0
	case ok:
		a.age[queue] = seen
	default:
		a.age[queue] += since
	}
	return a.age[queue]
}

// watchQueues reads the depth of every consumed queue and of its dead-letter
// queue every queueWatchEvery until ctx ends, into videometrics.Video's queue gauges.
func (b *Bus) watchQueues(ctx context.Context, subs []subscription) {
	t := time.NewTicker(queueWatchEvery)
	defer t.Stop()
	last := time.Now()
	for {
		now := time.Now()
		for _, s := range subs {
			b.observeQueue(ctx, s.queue, true, now.Sub(last))
			b.observeQueue(ctx, DLQName(s.queue), false, 0)
		}
		last = now
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *Bus) observeQueue(ctx context.Context, queue string, ages bool, since time.Duration) {
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := b.tr.depth(octx, queue)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Debug("cannot read queue depth", zap.String("queue", queue), zap.Error(err))
		}
		return
	}
	v := videometrics.Video
	v.QueueMessages.WithLabelValues(queue, "visible").Set(float64(d.visible))
	v.QueueMessages.WithLabelValues(queue, "in_flight").Set(float64(d.inFlight))
	v.QueueMessages.WithLabelValues(queue, "delayed").Set(float64(d.delayed))
	v.QueueObservedAt.WithLabelValues(queue).SetToCurrentTime()
	if ages {
		v.QueueOldestAge.WithLabelValues(queue).Set(b.ages.tick(queue, d.visible+d.delayed > 0, since).Seconds())
	}
}
