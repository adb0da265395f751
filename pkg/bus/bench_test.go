package bus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// BenchmarkThroughput measures how many events per second one consumer handles
// (no-op handler): b.N events are queued first, then one Bus drains them.
func BenchmarkThroughput(b *testing.B) {
	b.Run(bus.TransportMemory, func(b *testing.B) {
		benchThroughput(b, &harness{name: bus.TransportMemory})
	})
	b.Run(bus.TransportAWS, func(b *testing.B) {
		if testing.Short() {
			b.Skip("needs goaws")
		}
		benchThroughput(b, &harness{name: bus.TransportAWS, endpoint: testenv.Goaws(b)})
	})
}

func benchThroughput(b *testing.B, h *harness) {
	cfg := h.config(b, bus.Subscription{Service: "bench", Topic: topic})
	pub := publisher(b, cfg)
	env := uploaded(b)
	for i := 0; i < b.N; i++ {
		next := proto.Clone(env).(*eventsv1.Envelope)
		next.EventId = uuid.NewString()
		require.NoError(b, pub.Publish(context.Background(), next))
	}
	var handled atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	b.ResetTimer()
	begin := time.Now()
	start(b, cfg, "bench", map[string]bus.Handler{topic: func(context.Context, *eventsv1.Envelope) error {
		if handled.Add(1) == n {
			close(done)
		}
		return nil
	}})
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("only %d of %d events handled", handled.Load(), n)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/time.Since(begin).Seconds(), "events/s")
}
