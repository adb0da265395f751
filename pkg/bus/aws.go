package bus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsns "github.com/ThreeDotsLabs/watermill-aws/sns"
	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// awsTransport is SNS topics fanned out to SQS queues through watermill-aws.
type awsTransport struct {
	cfg    Config
	awsCfg aws.Config
	c      awsClients
	pub    *wsns.Publisher
	wmLog  watermill.LoggerAdapter

	mu   sync.Mutex
	urls map[string]string // queue name -> URL
	arns map[string]string // topic name -> ARN
	// noTopicAttributes: the endpoint (an emulator) lacks GetTopicAttributes.
	noTopicAttributes atomic.Bool
}

func newAWSTransport(ctx context.Context, cfg Config, wmLog watermill.LoggerAdapter) (*awsTransport, error) {
	ac, err := awsConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t := &awsTransport{cfg: cfg, awsCfg: ac, c: awsClients{sns: sns.NewFromConfig(ac), sqs: sqs.NewFromConfig(ac)},
		wmLog: wmLog, urls: map[string]string{}, arns: map[string]string{}}
	t.pub, err = wsns.NewPublisher(wsns.PublisherConfig{
		AWSConfig:                   ac,
		DoNotCreateTopicIfNotExists: true,
		TopicResolver:               arnResolver{t},
		Marshaler:                   topicArnMarshaler{},
	}, wmLog)
	if err != nil {
		return nil, fmt.Errorf("bus: cannot create SNS publisher: %w", err)
	}
	return t, nil
}

// arnResolver maps a topic name to its ARN: built from region and account when the
// account is known, else looked up (never created: publishing must not provision).
type arnResolver struct{ t *awsTransport }

func (r arnResolver) ResolveTopic(ctx context.Context, topic string) (wsns.TopicArn, error) {
	arn, err := r.t.topicARN(ctx, topic)
	return wsns.TopicArn(arn), err
}

func (t *awsTransport) topicARN(ctx context.Context, name string) (string, error) {
	if t.cfg.AccountID != "" {
		return topicARN(t.cfg.Region, t.cfg.AccountID, name), nil
	}
	t.mu.Lock()
	arn, ok := t.arns[name]
	t.mu.Unlock()
	if ok {
		return arn, nil
	}
	arn, err := findTopicARN(ctx, t.c.sns, name)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	t.arns[name] = arn
	t.mu.Unlock()
	return arn, nil
}

// topicArnMarshaler publishes with TopicArn instead of the stock TargetArn, which
// goaws rejects; TopicArn is valid on AWS too.
type topicArnMarshaler struct{}

func (topicArnMarshaler) Marshal(arn wsns.TopicArn, msg *message.Message) *sns.PublishInput {
	in := wsns.DefaultMarshalerUnmarshaler{}.Marshal(arn, msg)
	in.TopicArn, in.TargetArn = in.TargetArn, nil
	return in
}

// receiptUnmarshaler keeps the receipt handle in the metadata so that handlers can
// extend the visibility timeout, delete the message and dead-letter it.
type receiptUnmarshaler struct{}

func (receiptUnmarshaler) Unmarshal(m *sqstypes.Message) (*message.Message, error) {
	msg, err := wsqs.DefaultMarshalerUnmarshaler{}.Unmarshal(m)
	if err != nil {
		return nil, err
	}
	msg.Metadata.Set(metaReceipt, aws.ToString(m.ReceiptHandle))
	return msg, nil
}

func (t *awsTransport) publish(ctx context.Context, topic string, msg *message.Message) error {
	name := TopicName(t.cfg.Prefix, topic)
	// watermill-aws publishes with context.Background(): honour ctx here.
	errc := make(chan error, 1)
	go func() { errc <- t.pub.Publish(name, msg) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err != nil {
		if isMissingTopic(err) {
			return notProvisioned("topic", name, err)
		}
		return err
	}
	return nil
}

func (t *awsTransport) queueURL(ctx context.Context, queue string) (string, error) {
	t.mu.Lock()
	url, ok := t.urls[queue]
	t.mu.Unlock()
	if ok {
		return url, nil
	}
	out, err := t.c.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
	if err != nil {
		if isMissingQueue(err) {
			return "", notProvisioned("queue", queue, err)
		}
		return "", fmt.Errorf("bus: cannot look up queue %s: %w", queue, err)
	}
	url = aws.ToString(out.QueueUrl)
	t.mu.Lock()
	t.urls[queue] = url
	t.mu.Unlock()
	return url, nil
}

func (t *awsTransport) prepare(ctx context.Context, _ string, queue string) error {
	if _, err := t.queueURL(ctx, queue); err != nil {
		return err
	}
	_, err := t.queueURL(ctx, DLQName(queue))
	return err
}

func (t *awsTransport) subscriber(queue string) (message.Subscriber, error) {
	wait := int32(t.cfg.WaitTime / time.Second)
	vis := int32(t.cfg.VisibilityTimeout / time.Second)
	return wsqs.NewSubscriber(wsqs.SubscriberConfig{
		AWSConfig:                   t.awsCfg,
		DoNotCreateQueueIfNotExists: true,
		GenerateReceiveMessageInput: func(_ context.Context, url wsqs.QueueURL) (*sqs.ReceiveMessageInput, error) {
			return &sqs.ReceiveMessageInput{
				QueueUrl:              aws.String(string(url)),
				MessageAttributeNames: []string{"All"},
				MaxNumberOfMessages:   1,
				WaitTimeSeconds:       wait, // never 0: watermill-aws would spin
				VisibilityTimeout:     vis,  // the consumer's setting rules its heartbeat
			}, nil
		},
		Unmarshaler: receiptUnmarshaler{},
	}, t.wmLog)
}

// received is the queue URL and receipt handle of msg, received from queue:
// what SQS needs to act on the message.
func (t *awsTransport) received(ctx context.Context, queue string, msg *message.Message) (url, receipt *string, err error) {
	u, err := t.queueURL(ctx, queue)
	if err != nil {
		return nil, nil, err
	}
	r := msg.Metadata.Get(metaReceipt)
	if r == "" {
		return nil, nil, errors.New("message has no receipt handle")
	}
	return aws.String(u), aws.String(r), nil
}

// complete deletes the message now, so that an acknowledgement survives the
// subscriber being closed right after (watermill-aws's own delete then finds
// nothing, which it accepts).
func (t *awsTransport) complete(ctx context.Context, queue string, msg *message.Message) error {
	url, r, err := t.received(ctx, queue, msg)
	if err != nil {
		return err
	}
	_, err = t.c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: r})
	if err != nil {
		return fmt.Errorf("bus: cannot delete message from %s (visibility timeout expired?): %w", queue, err)
	}
	return nil
}

func (t *awsTransport) deadLetter(ctx context.Context, queue string, msg *message.Message, reason string) error {
	url, err := t.queueURL(ctx, DLQName(queue))
	if err != nil {
		return err
	}
	meta := publicMeta(msg.Metadata)
	attrs := map[string]sqstypes.MessageAttributeValue{}
	for k, v := range meta {
		if v != "" {
			attrs[k] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	if len(attrs) < maxAttributes && reason != "" {
		if len(reason) > 1024 {
			reason = reason[:1024]
		}
		attrs[metaDeadLetterReason] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(reason)}
	}
	_, err = t.c.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String(string(msg.Payload)), MessageAttributes: attrs})
	if err != nil {
		return fmt.Errorf("bus: cannot send to dead-letter queue %s: %w", DLQName(queue), err)
	}
	return nil
}

func (t *awsTransport) changeVisibility(ctx context.Context, queue string, msg *message.Message, d time.Duration) error {
	url, r, err := t.received(ctx, queue, msg)
	if err != nil {
		return err
	}
	_, err = t.c.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: url, ReceiptHandle: r, VisibilityTimeout: int32(math.Ceil(d.Seconds()))})
	return err
}

func (t *awsTransport) extend(ctx context.Context, queue string, msg *message.Message, d time.Duration) error {
	return t.changeVisibility(ctx, queue, msg, d)
}

func (t *awsTransport) delay(ctx context.Context, queue string, msg *message.Message, d time.Duration) error {
	return t.changeVisibility(ctx, queue, msg, min(max(d, time.Second), 12*time.Hour))
}

func (t *awsTransport) send(ctx context.Context, queue string, body []byte) error {
	url, err := t.queueURL(ctx, queue)
	if err != nil {
		return err
	}
	_, err = t.c.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(body))})
	return err
}

// deadLetters peeks at a dead-letter queue: it receives up to max messages, then
// makes them visible again.
func (t *awsTransport) deadLetters(ctx context.Context, queue string, max int) ([][]byte, error) {
	url, err := t.queueURL(ctx, DLQName(queue))
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	var handles []string
	defer func() {
		for _, h := range handles {
			_, _ = t.c.sqs.ChangeMessageVisibility(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(url), ReceiptHandle: aws.String(h), VisibilityTimeout: 0})
		}
	}()
	for len(bodies) < max {
		out, err := t.c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(url),
			MaxNumberOfMessages: int32(min(10, max-len(bodies))),
			WaitTimeSeconds:     1, // explicit: 0 means the queue's 20 s on goaws
			VisibilityTimeout:   30,
		})
		if err != nil {
			return bodies, fmt.Errorf("bus: cannot read dead-letter queue %s: %w", DLQName(queue), err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			bodies = append(bodies, []byte(aws.ToString(m.Body)))
			handles = append(handles, aws.ToString(m.ReceiptHandle))
		}
	}
	return bodies, nil
}

// takeDeadLetters receives up to max messages of queue's DLQ and leaves them
// there, hidden for deadLetterPark.
func (t *awsTransport) takeDeadLetters(ctx context.Context, queue string, max int) ([]deadLetterItem, error) {
	url, err := t.queueURL(ctx, DLQName(queue))
	if err != nil {
		return nil, err
	}
	out, err := t.c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(url),
		MaxNumberOfMessages:   int32(min(10, max)),
		WaitTimeSeconds:       1, // explicit: 0 means the queue's 20 s on goaws
		VisibilityTimeout:     int32(deadLetterPark.Seconds()),
		MessageAttributeNames: []string{metaDeadLetterReason},
	})
	if err != nil {
		return nil, fmt.Errorf("bus: cannot read dead-letter queue %s: %w", DLQName(queue), err)
	}
	items := make([]deadLetterItem, 0, len(out.Messages))
	for _, m := range out.Messages {
		handle := aws.ToString(m.ReceiptHandle)
		it := deadLetterItem{body: []byte(aws.ToString(m.Body)), retry: func(ctx context.Context) {
			_, _ = t.c.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle), VisibilityTimeout: int32(math.Ceil(t.cfg.sweepEvery().Seconds()))})
		}}
		if a, ok := m.MessageAttributes[metaDeadLetterReason]; ok {
			it.reason = aws.ToString(a.StringValue)
		}
		items = append(items, it)
	}
	return items, nil
}

// ping proves, with the cheapest calls that need the credentials to reach
// each resource, that the queues and the topics exist: GetQueueAttributes on
// each queue (its URL looked up once), GetTopicAttributes on each topic.
func (t *awsTransport) ping(ctx context.Context, queues, topics []string) error {
	var errs []error
	for _, q := range queues {
		errs = append(errs, t.pingQueue(ctx, q))
	}
	return errors.Join(append(errs, t.pingTopics(ctx, topics))...)
}

func (t *awsTransport) pingQueue(ctx context.Context, queue string) error {
	url, err := t.queueURL(ctx, queue)
	if err != nil {
		return err
	}
	_, err = t.c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err == nil {
		return nil
	}
	if isMissingQueue(err) {
		// Deleted since its URL was looked up: look it up again next time.
		t.mu.Lock()
		delete(t.urls, queue)
		t.mu.Unlock()
		return notProvisioned("queue", queue, err)
	}
	return fmt.Errorf("bus: queue %s: %w", queue, err)
}

func (t *awsTransport) pingTopics(ctx context.Context, topics []string) error {
	if len(topics) == 0 || t.noTopicAttributes.Load() {
		return t.listTopics(ctx)
	}
	var errs []error
	for _, topic := range topics {
		name := TopicName(t.cfg.Prefix, topic)
		arn, err := t.topicARN(ctx, name)
		if err == nil {
			_, err = t.c.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
		}
		switch {
		case err == nil:
		case t.cfg.Endpoint != "" && unsupported(err):
			// An emulator without GetTopicAttributes (goaws): listing
			// topics is what it can say.
			t.noTopicAttributes.Store(true)
			return t.listTopics(ctx)
		case isMissingTopic(err):
			errs = append(errs, notProvisioned("topic", name, err))
		default:
			errs = append(errs, fmt.Errorf("bus: topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func (t *awsTransport) listTopics(ctx context.Context) error {
	if _, err := t.c.sns.ListTopics(ctx, &sns.ListTopicsInput{}); err != nil {
		return fmt.Errorf("bus: SNS unreachable: %w", err)
	}
	return nil
}

// unsupported reports an answer without a body that the SDK can read, as an
// emulator gives for an action it does not implement.
func unsupported(err error) bool {
	var de *smithy.DeserializationError
	return errors.As(err, &de)
}

func (t *awsTransport) depth(ctx context.Context, queue string) (queueDepth, error) {
	url, err := t.queueURL(ctx, queue)
	if err != nil {
		return queueDepth{}, err
	}
	out, err := t.c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return queueDepth{}, fmt.Errorf("bus: cannot read the attributes of queue %s: %w", queue, err)
	}
	n := func(name sqstypes.QueueAttributeName) int64 {
		v, _ := strconv.ParseInt(out.Attributes[string(name)], 10, 64)
		return v
	}
	return queueDepth{visible: n(sqstypes.QueueAttributeNameApproximateNumberOfMessages),
		inFlight: n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		delayed:  n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)}, nil
}

func (t *awsTransport) heartbeats() bool { return true }

func (t *awsTransport) close() error { return t.pub.Close() }

// isGone reports an error meaning the receipt handle is no longer valid.
func isGone(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return strings.Contains(ae.ErrorMessage(), "does not contain the message") ||
		strings.Contains(ae.ErrorCode(), "MessageNotInflight") || strings.Contains(ae.ErrorCode(), "ReceiptHandleIsInvalid")
}
