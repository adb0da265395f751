package bus

// The AWS API actions the aws transport calls, by the resource they act on. IAM
// policies are built from these (internal/awsaccess), and tests/e2e records the
// calls each service really makes against goaws and checks them against this
// list: a call added here without a grant, or made without being listed, fails.
var (
	// ActionsPublish: Publish on each topic a service publishes to.
	ActionsPublish = []string{"sns:Publish"}
	// ActionsConsume: on each queue a service consumes. GetQueueUrl resolves it
	// (once); ChangeMessageVisibility is the heartbeat of
	// long handlers, the hand-back at shutdown and Later; GetQueueAttributes
	// reads its depth for pertitle_queue_messages and proves it in readiness.
	ActionsConsume = []string{"sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
	// ActionsDeadLetterQueue: on the DLQ of each queue a service consumes.
	// SendMessage dead-letters malformed and permanently failed messages at
	// once; ReceiveMessage and ChangeMessageVisibility are the sweeper, which
	// parks what it found; GetQueueUrl resolves it (once); GetQueueAttributes
	// reads its depth for pertitle_queue_messages and proves it in readiness.
	ActionsDeadLetterQueue = []string{"sqs:GetQueueUrl", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
	// ActionsTopicReadiness: on each topic a service publishes to. Ping reads
	// each one's attributes: the cheapest call that proves the topic exists and
	// the credentials reach it. (On its queues and DLQs Ping reads their
	// attributes too: sqs:GetQueueAttributes, above.)
	ActionsTopicReadiness = []string{"sns:GetTopicAttributes"}
	// ActionsLookup: on "*" (ListTopics takes no resource). The publisher
	// looks a topic ARN up with it when no account id is set, and Ping lists
	// topics instead of reading their attributes against an emulator that
	// lacks GetTopicAttributes (goaws) and for a service that publishes nothing.
	ActionsLookup = []string{"sns:ListTopics"}
)
