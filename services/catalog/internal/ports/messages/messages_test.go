package messages_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/services/catalog/internal/ports/messages"
)

// subscriptions records what Subscribe registers.
type subscriptions struct {
	topics []string
	dead   bus.DeadLetterHandler
}

func (s *subscriptions) Subscribe(topic string, _ bus.Handler) { s.topics = append(s.topics, topic) }
func (s *subscriptions) OnDeadLetter(h bus.DeadLetterHandler)  { s.dead = h }

func TestTheCatalogConsumesTheTopicsItNames(t *testing.T) {
	t.Parallel()
	assert.ElementsMatch(t, []string{events.TopicAssetUploaded, events.TopicEncodingStarted, events.TopicEncodingProgress,
		events.TopicEncodingFinished, events.TopicEncodingFailed, events.TopicEncodingRequested, events.TopicAssetDeleted},
		messages.Topics, "every event that changes an asset")
	var s subscriptions
	(&messages.Handlers{}).Subscribe(&s)
	assert.ElementsMatch(t, messages.Topics, s.topics, "a handler on every topic named, and only there")
	assert.NotNil(t, s.dead, "dead letters are handled")
	var provisioned []string
	for _, sub := range bus.DefaultTopology().Subscriptions {
		if sub.Service == bus.ServiceCatalog {
			provisioned = append(provisioned, sub.Topic)
		}
	}
	assert.ElementsMatch(t, messages.Topics, provisioned, "provisioning creates a queue for each topic the catalog consumes")
}
