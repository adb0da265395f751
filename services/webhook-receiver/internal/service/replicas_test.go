package service

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/idempotency"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/webhook"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/adapters/jobstore"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
	httpport "github.com/pertitle/pertitle/services/webhook-receiver/internal/ports/http"
)

// slowResolver holds every resolution long enough for deliveries to overlap.
type slowResolver struct{ app.Resolver }

func (s slowResolver) Resolve(ctx context.Context, id string) (*jobs.Result, error) {
	time.Sleep(300 * time.Millisecond)
	return s.Resolver.Resolve(ctx, id)
}

// flakyPublisher fails its first publish (the bus was down for that delivery).
type flakyPublisher struct {
	recordingPublisher
	calls atomic.Int64
}

func (p *flakyPublisher) Publish(ctx context.Context, env *eventsv1.Envelope) error {
	if p.calls.Add(1) == 1 {
		return errors.New("sns unavailable")
	}
	return p.recordingPublisher.Publish(ctx, env)
}

// replicas starts two receivers as two processes would be: one storage, one
// state database, a connection pool each.
func replicas(t *testing.T, pub app.Publisher) (storage.Storage, []http.Handler) {
	t.Helper()
	st, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, jobs.Save(context.Background(), st, finishedRecord("job-ok", "asset-1")))
	url := testenv.Postgres(t)
	var hs []http.Handler
	for range 2 {
		claims, err := idempotency.Open(context.Background(), url)
		require.NoError(t, err)
		t.Cleanup(func() { _ = claims.Close() })
		rcv := app.NewReceiver(pub, slowResolver{jobstore.Resolver{Store: st}}, time.Hour)
		rcv.Ledger = jobstore.Ledger{Store: st}
		rcv.Claims = claims
		hs = append(hs, httpport.Webhook(rcv, key, 1<<20, zap.NewNop()))
	}
	return st, hs
}

// deliverAtOnce posts body to every handler at the same moment, twice each.
func deliverAtOnce(hs []http.Handler, body []byte) []int {
	var mu sync.Mutex
	var codes []int
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 * len(hs) {
		wg.Go(func() {
			<-start
			code := post(hs[i%len(hs)], body, webhook.Sign(key, body)).Code
			mu.Lock()
			codes = append(codes, code)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return codes
}

// TestReplicasPublishOnce: the same webhook reaching two receivers at once
// (Bitmovin's retry after a timeout, a load balancer's) publishes one
// EncodingFinished; the other deliveries wait for it and answer duplicate.
func TestReplicasPublishOnce(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	st, hs := replicas(t, pub)
	codes := deliverAtOnce(hs, notification("n1", "job-ok", webhook.EventEncodingFinished))
	assert.Equal(t, []int{http.StatusAccepted, http.StatusAccepted, http.StatusAccepted, http.StatusAccepted}, codes)
	evs := pub.events()
	require.Len(t, evs, 1)
	assert.NotNil(t, evs[0].GetEncodingFinished())
	_, err := st.Stat(context.Background(), jobs.CompletionKey("job-ok", webhook.EventEncodingFinished))
	assert.NoError(t, err, "the completion marker is written")
	// Later repeats, on either replica, stay duplicates.
	body := notification("n2", "job-ok", webhook.EventEncodingFinished)
	for _, h := range hs {
		rec := post(h, body, webhook.Sign(key, body))
		assert.Equal(t, http.StatusAccepted, rec.Code)
		assert.Contains(t, rec.Body.String(), "duplicate")
	}
	assert.Len(t, pub.events(), 1)
}

// TestReplicaFailureLetsTheOtherPublish: the delivery holding the claim
// fails to publish and gives the claim up; a delivery waiting on the other
// replica takes it and publishes, once.
func TestReplicaFailureLetsTheOtherPublish(t *testing.T) {
	t.Parallel()
	pub := &flakyPublisher{}
	_, hs := replicas(t, pub)
	codes := deliverAtOnce(hs, notification("n1", "job-ok", webhook.EventEncodingFinished))
	assert.Contains(t, codes, http.StatusServiceUnavailable, "the failed delivery asks for a retry")
	assert.Contains(t, codes, http.StatusAccepted)
	assert.Len(t, pub.events(), 1)
}
