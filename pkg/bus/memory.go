package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// MemoryBroker is the in-process stand-in for SNS+SQS: watermill's gochannel
// carries each topic, and every subscribed queue (one per service and topic, as
// provisioned on AWS) gets its own copy, kept until acknowledged. A nacked message
// is redelivered after the consumer's RetryInterval; after MaxReceives receives it
// moves to the queue's dead-letter list. Share one broker between the Bus
// instances of one process (Config.Memory) to wire several services together.
type MemoryBroker struct {
	pubsub *gochannel.GoChannel
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queues map[string]*memQueue
	// marks holds what the bus decided about a message in flight (completed),
	// read by the subscriber while a handler may still run: not
	// in the message's metadata map, which the two would share unguarded.
	marks  sync.Map // *message.Message -> *atomic.Uint32
	delays sync.Map // *message.Message -> time.Duration, for a nack
}

// markCompleted marks a message in flight the bus is done with: the router's
// own Ack may be lost when the subscriber closes right after the handler.
const markCompleted uint32 = 1

func (b *MemoryBroker) mark(msg *message.Message, m uint32) {
	v, _ := b.marks.LoadOrStore(msg, new(atomic.Uint32))
	v.(*atomic.Uint32).Or(m)
}

// setDelay asks that a nacked message come back after d.
func (b *MemoryBroker) setDelay(msg *message.Message, d time.Duration) { b.delays.Store(msg, d) }

func (b *MemoryBroker) marked(msg *message.Message, m uint32) bool {
	v, ok := b.marks.Load(msg)
	return ok && v.(*atomic.Uint32).Load()&m != 0
}

// NewMemoryBroker returns an empty broker.
func NewMemoryBroker() *MemoryBroker {
	ctx, cancel := context.WithCancel(context.Background())
	return &MemoryBroker{
		// Blocking until every queue has taken its copy makes Publish synchronous, like SNS.
		pubsub: gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{}),
		ctx:    ctx, cancel: cancel,
		queues: map[string]*memQueue{},
	}
}

// Close stops the broker; messages still queued are dropped.
func (b *MemoryBroker) Close() error {
	b.cancel()
	return b.pubsub.Close()
}

// Send puts a raw body straight into a queue, bypassing the topic (tests, redrive).
func (b *MemoryBroker) Send(queue string, body []byte, meta map[string]string) error {
	q := b.queue(queue)
	if q == nil {
		return notProvisioned("queue", queue, errors.New("no such memory queue"))
	}
	q.push(&memItem{id: watermill.NewUUID(), payload: append([]byte(nil), body...), meta: copyMeta(meta)})
	return nil
}

// DeadLetters returns up to max bodies in the dead-letter list of queue.
func (b *MemoryBroker) DeadLetters(queue string, max int) [][]byte {
	q := b.queue(queue)
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var out [][]byte
	for _, it := range q.dead {
		if len(out) >= max {
			break
		}
		out = append(out, append([]byte(nil), it.payload...))
	}
	return out
}

func (b *MemoryBroker) queue(name string) *memQueue {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queues[name]
}

// ensureQueue creates queue and subscribes it to topic (both full names) once.
func (b *MemoryBroker) ensureQueue(topic, queue string, maxReceives int, redelivery time.Duration) (*memQueue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q, ok := b.queues[queue]; ok {
		return q, nil
	}
	ch, err := b.pubsub.Subscribe(b.ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("bus: cannot subscribe memory queue %s to %s: %w", queue, topic, err)
	}
	q := &memQueue{name: queue, notify: make(chan struct{}, 1), maxReceives: maxReceives, redelivery: redelivery}
	b.queues[queue] = q
	go func() {
		for msg := range ch {
			q.push(&memItem{id: msg.UUID, payload: msg.Payload, meta: copyMeta(msg.Metadata)})
			msg.Ack()
		}
	}()
	return q, nil
}

func (b *MemoryBroker) publish(topic string, msg *message.Message) error {
	return b.pubsub.Publish(topic, msg)
}

type memItem struct {
	id       string
	payload  []byte
	meta     map[string]string
	receives int
	swept    bool // taken by the dead-letter sweep (it stays in the dead list)
}

type memQueue struct {
	name        string
	maxReceives int
	redelivery  time.Duration
	notify      chan struct{}

	mu    sync.Mutex
	ready []*memItem
	dead  []*memItem
}

func (q *memQueue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *memQueue) push(it *memItem) {
	q.mu.Lock()
	q.ready = append(q.ready, it)
	q.mu.Unlock()
	q.signal()
}

func (q *memQueue) receive(ctx context.Context) (*memItem, error) {
	for {
		q.mu.Lock()
		if len(q.ready) > 0 {
			it := q.ready[0]
			q.ready = q.ready[1:]
			more := len(q.ready) > 0
			it.receives++
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return it, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.notify:
		}
	}
}

// nack makes a failed message visible again after the redelivery delay, or moves it
// to the dead-letter list once it was received maxReceives times. A released message
// (consumer shutting down) comes back at once and the receive does not count.
func (q *memQueue) nack(it *memItem, released bool) {
	if released {
		it.receives--
		q.push(it)
		return
	}
	if it.receives >= q.maxReceives {
		q.deadLetter(it)
		return
	}
	time.AfterFunc(q.redelivery, func() { q.push(it) })
}

// nackAfter makes a message visible again after d, or dead-letters it once it
// was received maxReceives times, as SQS does with a visibility change.
func (q *memQueue) nackAfter(it *memItem, d time.Duration) {
	if it.receives >= q.maxReceives {
		q.deadLetter(it)
		return
	}
	time.AfterFunc(d, func() { q.push(it) })
}

func (q *memQueue) deadLetter(it *memItem) {
	q.mu.Lock()
	q.dead = append(q.dead, it)
	q.mu.Unlock()
}

func copyMeta(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// memSubscriber consumes memory queues for a watermill Router, one message at a
// time per queue, waiting for its Ack or Nack like the SQS subscriber.
type memSubscriber struct {
	broker  *MemoryBroker
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newMemSubscriber(b *MemoryBroker) *memSubscriber {
	return &memSubscriber{broker: b, closing: make(chan struct{})}
}

func (s *memSubscriber) Subscribe(ctx context.Context, queue string) (<-chan *message.Message, error) {
	q := s.broker.queue(queue)
	if q == nil {
		return nil, notProvisioned("queue", queue, errors.New("no such memory queue"))
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		go func() {
			select {
			case <-s.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		for {
			it, err := q.receive(ctx)
			if err != nil {
				return
			}
			msg := message.NewMessage(it.id, append([]byte(nil), it.payload...))
			msg.Metadata = copyMeta(it.meta)
			msg.SetContext(ctx)
			select {
			case out <- msg:
			case <-ctx.Done():
				q.nack(it, true)
				return
			}
			if !s.settle(ctx, q, it, msg) {
				return
			}
		}
	}()
	return out, nil
}

// settle waits for the bus to be done with msg and acts on it; false when the
// subscriber is closing.
func (s *memSubscriber) settle(ctx context.Context, q *memQueue, it *memItem, msg *message.Message) bool {
	defer s.broker.marks.Delete(msg)
	defer s.broker.delays.Delete(msg)
	select {
	case <-msg.Acked():
	case <-msg.Nacked():
		if d, ok := s.broker.delays.Load(msg); ok {
			q.nackAfter(it, d.(time.Duration))
			break
		}
		q.nack(it, false)
	case <-ctx.Done():
		select {
		case <-msg.Acked():
		default:
			// Closing: the bus's completion mark (set before the handler's
			// in-flight count dropped, so before this close) stands for the Ack.
			if !s.broker.marked(msg, markCompleted) {
				q.nack(it, true)
			}
		}
		return false
	}
	return true
}

func (s *memSubscriber) Close() error {
	s.once.Do(func() { close(s.closing) })
	s.wg.Wait()
	return nil
}

// memTransport is the memory side of transport.
type memTransport struct {
	cfg     Config
	broker  *MemoryBroker
	private bool
}

func (t *memTransport) publish(_ context.Context, topic string, msg *message.Message) error {
	return t.broker.publish(TopicName(t.cfg.Prefix, topic), msg)
}

func (t *memTransport) prepare(_ context.Context, topic, queue string) error {
	_, err := t.broker.ensureQueue(TopicName(t.cfg.Prefix, topic), queue, t.cfg.MaxReceives, t.cfg.RetryInterval)
	return err
}

func (t *memTransport) subscriber(string) (message.Subscriber, error) {
	return newMemSubscriber(t.broker), nil
}

// complete records that the message is done with, as the SQS transport deletes
// it: a consumer closing before the router's Ack arrives must not redeliver it.
func (t *memTransport) complete(_ context.Context, _ string, msg *message.Message) error {
	t.broker.mark(msg, markCompleted)
	return nil
}

func (t *memTransport) deadLetter(_ context.Context, queue string, msg *message.Message, reason string) error {
	q := t.broker.queue(queue)
	if q == nil {
		return notProvisioned("queue", queue, errors.New("no such memory queue"))
	}
	meta := publicMeta(msg.Metadata)
	meta[metaDeadLetterReason] = reason
	q.deadLetter(&memItem{id: msg.UUID, payload: append([]byte(nil), msg.Payload...), meta: meta})
	return nil
}

func (t *memTransport) extend(context.Context, string, *message.Message, time.Duration) error {
	return nil
}

func (t *memTransport) delay(_ context.Context, _ string, msg *message.Message, d time.Duration) error {
	t.broker.setDelay(msg, d)
	return nil
}

func (t *memTransport) send(_ context.Context, queue string, body []byte) error {
	return t.broker.Send(queue, body, nil)
}

func (t *memTransport) deadLetters(_ context.Context, queue string, max int) ([][]byte, error) {
	return t.broker.DeadLetters(queue, max), nil
}

func (t *memTransport) takeDeadLetters(_ context.Context, queue string, max int) ([]deadLetterItem, error) {
	q := t.broker.queue(queue)
	if q == nil {
		return nil, notProvisioned("queue", queue, errors.New("no such memory queue"))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var items []deadLetterItem
	for _, it := range q.dead {
		if len(items) >= max {
			break
		}
		if it.swept {
			continue
		}
		it.swept = true
		items = append(items, deadLetterItem{body: append([]byte(nil), it.payload...), reason: it.meta[metaDeadLetterReason],
			retry: func(context.Context) {
				q.mu.Lock()
				it.swept = false
				q.mu.Unlock()
			}})
	}
	return items, nil
}

func (t *memTransport) ping(context.Context, []string, []string) error { return nil }

// depth counts a memory queue's ready messages, or, for its DLQ name, its
// dead-letter list (the memory broker keeps no in-flight count).
func (t *memTransport) depth(_ context.Context, queue string) (queueDepth, error) {
	name, dead := strings.CutSuffix(queue, DLQName(""))
	q := t.broker.queue(name)
	if q == nil {
		return queueDepth{}, notProvisioned("queue", queue, errors.New("no such memory queue"))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if dead {
		return queueDepth{visible: int64(len(q.dead))}, nil
	}
	return queueDepth{visible: int64(len(q.ready))}, nil
}

func (t *memTransport) heartbeats() bool { return false }

func (t *memTransport) close() error {
	if t.private {
		return t.broker.Close()
	}
	return nil
}
