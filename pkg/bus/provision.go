package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"
)

// Provision creates the topics, queues, dead-letter queues and subscriptions of t
// (transport aws; for memory it only declares the queues on Config.Memory). It is idempotent: a second run finds
// everything in place and changes nothing. goaws keeps everything in memory, so
// provision after every emulator start.
func Provision(ctx context.Context, cfg Config, t Topology, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Transport == TransportMemory {
		// Nothing to create, except on a shared broker: declaring the queues there
		// keeps events published before their consumer subscribes, like SQS would.
		if cfg.Memory != nil {
			for _, s := range t.Subscriptions {
				if _, err := cfg.Memory.ensureQueue(TopicName(cfg.Prefix, s.Topic), cfg.queue(s.Service, s.Topic),
					max(cfg.MaxReceives, 1), cfg.RetryInterval); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	c, err := newAWSClients(ctx, cfg)
	if err != nil {
		return err
	}
	p := provisioner{cfg: cfg, c: c, log: log, topicARNs: map[string]string{}}
	for _, topic := range t.Topics {
		if _, err := p.topic(ctx, topic); err != nil {
			return err
		}
	}
	for _, s := range t.Subscriptions {
		if err := p.subscription(ctx, s); err != nil {
			return err
		}
	}
	log.Info("bus provisioned", zap.Int("topics", len(t.Topics)), zap.Int("subscriptions", len(t.Subscriptions)),
		zap.String("prefix", cfg.Prefix), zap.Int("changes", p.changes))
	return nil
}

type provisioner struct {
	cfg       Config
	c         awsClients
	log       *zap.Logger
	topicARNs map[string]string
	changes   int
}

func (p *provisioner) topic(ctx context.Context, topic string) (string, error) {
	if arn, ok := p.topicARNs[topic]; ok {
		return arn, nil
	}
	name := TopicName(p.cfg.Prefix, topic)
	// CreateTopic is idempotent and returns the ARN: no need to build it.
	out, err := p.c.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("bus: cannot create topic %s: %w", name, err)
	}
	arn := aws.ToString(out.TopicArn)
	p.topicARNs[topic] = arn
	p.log.Debug("topic ready", zap.String("topic", name), zap.String("arn", arn))
	return arn, nil
}

// queue makes sure a queue exists with the wanted attributes and returns its URL and ARN.
func (p *provisioner) queue(ctx context.Context, name string, want map[string]string) (string, string, error) {
	var url string
	got, err := p.c.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	switch {
	case err == nil:
		url = aws.ToString(got.QueueUrl)
	case isMissingQueue(err):
		out, err := p.c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: want})
		if err != nil {
			return "", "", fmt.Errorf("bus: cannot create queue %s: %w", name, err)
		}
		url = aws.ToString(out.QueueUrl)
		p.changes++
		p.log.Info("queue created", zap.String("queue", name))
	default:
		return "", "", fmt.Errorf("bus: cannot look up queue %s: %w", name, err)
	}
	attrs, err := p.c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		return "", "", fmt.Errorf("bus: cannot read attributes of queue %s: %w", name, err)
	}
	// A repeated CreateQueue ignores new attributes (goaws) or fails (AWS): compare
	// and set. goaws resets attributes missing from SetQueueAttributes (a zero
	// MaximumMessageSize rejects every message), so always send the full set.
	if diff := attrDiff(want, attrs.Attributes); len(diff) > 0 {
		if _, err := p.c.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: want}); err != nil {
			return "", "", fmt.Errorf("bus: cannot set attributes of queue %s: %w", name, err)
		}
		p.changes++
		p.log.Info("queue attributes updated", zap.String("queue", name), zap.Strings("attributes", diff))
	}
	arn := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", "", fmt.Errorf("bus: queue %s has no QueueArn attribute", name)
	}
	return url, arn, nil
}

func (p *provisioner) subscription(ctx context.Context, s Subscription) error {
	topicARN, err := p.topic(ctx, s.Topic)
	if err != nil {
		return err
	}
	queue := p.cfg.queue(s.Service, s.Topic)
	base := map[string]string{
		"DelaySeconds":                  "0",
		"MaximumMessageSize":            "262144",
		"MessageRetentionPeriod":        "1209600",
		"ReceiveMessageWaitTimeSeconds": "20",
		"VisibilityTimeout":             strconv.Itoa(int(p.cfg.VisibilityTimeout.Seconds())),
	}
	_, dlqARN, err := p.queue(ctx, DLQName(queue), base)
	if err != nil {
		return err
	}
	want := map[string]string{}
	for k, v := range base {
		want[k] = v
	}
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": p.cfg.MaxReceives})
	want["RedrivePolicy"] = string(redrive)
	url, queueARN, err := p.queue(ctx, queue, want)
	if err != nil {
		return err
	}
	if err := p.policy(ctx, queue, url, queueARN, topicARN); err != nil {
		return err
	}
	return p.subscribe(ctx, topicARN, queueARN, queue)
}

// policy lets the topic send to the queue (required on AWS). goaws neither stores
// nor returns policies and rejects a JSON-encoded one, so against an emulator a
// failure is only logged.
func (p *provisioner) policy(ctx context.Context, queue, url, queueARN, topicARN string) error {
	doc, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": "sns.amazonaws.com"},
			"Action":    "sqs:SendMessage",
			"Resource":  queueARN,
			"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": topicARN}},
		}},
	})
	got, err := p.c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNamePolicy}})
	if err == nil && jsonEqual(got.Attributes["Policy"], string(doc)) {
		return nil
	}
	if p.cfg.Endpoint != "" {
		// Emulators (goaws) do not enforce queue policies and goaws fails to parse them.
		p.log.Debug("queue policy skipped on emulator", zap.String("queue", queue))
		return nil
	}
	_, err = p.c.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(url), Attributes: map[string]string{"Policy": string(doc)}})
	if err != nil {
		return fmt.Errorf("bus: cannot set the policy of queue %s: %w", queue, err)
	}
	p.changes++
	p.log.Info("queue policy set", zap.String("queue", queue), zap.String("topic_arn", topicARN))
	return nil
}

func (p *provisioner) subscribe(ctx context.Context, topicARN, queueARN, queue string) error {
	// A repeated Subscribe neither updates raw delivery (goaws) nor keeps the
	// subscription ARN (goaws replaces it): look for an existing subscription first.
	var subARN string
	pager := sns.NewListSubscriptionsByTopicPaginator(p.c.sns, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topicARN)})
	for pager.HasMorePages() && subARN == "" {
		out, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("bus: cannot list subscriptions of %s: %w", topicARN, err)
		}
		for _, s := range out.Subscriptions {
			if aws.ToString(s.Protocol) == "sqs" && aws.ToString(s.Endpoint) == queueARN {
				subARN = aws.ToString(s.SubscriptionArn)
				break
			}
		}
	}
	if subARN == "" {
		out, err := p.c.sns.Subscribe(ctx, &sns.SubscribeInput{
			TopicArn:              aws.String(topicARN),
			Protocol:              aws.String("sqs"),
			Endpoint:              aws.String(queueARN),
			Attributes:            map[string]string{"RawMessageDelivery": "true"},
			ReturnSubscriptionArn: true,
		})
		if err != nil {
			return fmt.Errorf("bus: cannot subscribe %s to %s: %w", queue, topicARN, err)
		}
		p.changes++
		p.log.Info("subscription created", zap.String("queue", queue), zap.String("topic_arn", topicARN),
			zap.String("subscription_arn", aws.ToString(out.SubscriptionArn)))
		return nil
	}
	attrs, err := p.c.sns.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if err != nil && !isMissingSubscription(err) {
		return fmt.Errorf("bus: cannot read subscription %s: %w", subARN, err)
	}
	if err == nil && attrs.Attributes["RawMessageDelivery"] == "true" {
		return nil
	}
	if _, err := p.c.sns.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{
		SubscriptionArn: aws.String(subARN), AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")}); err != nil {
		return fmt.Errorf("bus: cannot enable raw delivery on %s: %w", subARN, err)
	}
	p.changes++
	p.log.Info("subscription switched to raw delivery", zap.String("queue", queue), zap.String("subscription_arn", subARN))
	return nil
}

// attrDiff lists the wanted attributes whose current value differs.
func attrDiff(want, got map[string]string) []string {
	var diff []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diff = append(diff, k)
		case k == "RedrivePolicy":
			if !redriveEqual(v, g) {
				diff = append(diff, k)
			}
		case g != v:
			diff = append(diff, k)
		}
	}
	return diff
}

// redriveEqual compares redrive policies whatever the JSON type of maxReceiveCount.
func redriveEqual(a, b string) bool {
	type rp struct {
		Target string          `json:"deadLetterTargetArn"`
		Max    json.RawMessage `json:"maxReceiveCount"`
	}
	var x, y rp
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	unq := func(r json.RawMessage) string {
		var s string
		if json.Unmarshal(r, &s) == nil {
			return s
		}
		return string(r)
	}
	return x.Target == y.Target && unq(x.Max) == unq(y.Max)
}

func jsonEqual(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
