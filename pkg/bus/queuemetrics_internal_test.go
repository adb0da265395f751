package bus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The oldest-message age is the longest wait received since the last tick,
// grows while messages wait and none is received, and is 0 once the queue
// is empty.
func TestQueueAges(t *testing.T) {
	var a queueAges
	assert.Zero(t, a.tick("q", false, 15*time.Second), "empty queue")
	a.saw("q", time.Now().Add(-40*time.Second))
	a.saw("q", time.Now().Add(-10*time.Second))
	a.saw("other", time.Now().Add(-time.Hour))
	assert.InDelta(t, 40, a.tick("q", true, 15*time.Second).Seconds(), 1, "the longest wait received")
	assert.InDelta(t, 55, a.tick("q", true, 15*time.Second).Seconds(), 1, "nothing received: it grows")
	assert.InDelta(t, 70, a.tick("q", true, 15*time.Second).Seconds(), 1)
	a.saw("q", time.Now().Add(-2*time.Second))
	assert.InDelta(t, 2, a.tick("q", true, 15*time.Second).Seconds(), 1, "a fresh receipt resets it")
	assert.Zero(t, a.tick("q", false, 15*time.Second), "drained")
	assert.InDelta(t, 3600, a.tick("other", true, 15*time.Second).Seconds(), 1, "queues are apart")
	a.saw("q", time.Time{})
	assert.InDelta(t, 15, a.tick("q", true, 15*time.Second).Seconds(), 1, "a message without a time is not a wait of 56 years")
}
