package settings

import (
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/svc"
)

// EndpointNone is a PERTITLE_AWS_ENDPOINT value that selects real AWS, as the
// empty value does; it is easier to spot in a compose file or a ConfigMap.
const EndpointNone = "none"

// Bus reads the bus settings, with defaults from bus.DefaultConfig.
func Bus(e *svc.Env) bus.Config {
	c := bus.DefaultConfig()
	e.String(&c.Transport, "PERTITLE_BUS_TRANSPORT", c.Transport, "event bus transport: aws (SNS+SQS, also goaws) or memory (one process)")
	e.String(&c.Endpoint, "PERTITLE_AWS_ENDPOINT", c.Endpoint, "SNS/SQS endpoint (goaws emulator); empty or \"none\" for real AWS")
	if c.Endpoint == EndpointNone {
		c.Endpoint = ""
	}
	e.String(&c.Region, "PERTITLE_AWS_REGION", c.Region, "AWS region (must match the emulator's Region)")
	e.String(&c.AccountID, "PERTITLE_AWS_ACCOUNT_ID", c.AccountID, "AWS account id used in topic ARNs (must match the emulator's AccountId)")
	e.String(&c.Prefix, "PERTITLE_BUS_PREFIX", c.Prefix, "prefix of every topic and queue name")
	e.Int(&c.MaxReceives, "PERTITLE_BUS_MAX_RECEIVES", c.MaxReceives, "receives of a failing message before it moves to the dead-letter queue")
	e.Duration(&c.VisibilityTimeout, "PERTITLE_BUS_VISIBILITY_TIMEOUT", c.VisibilityTimeout, "SQS visibility timeout (extended while a handler runs)")
	e.Duration(&c.WaitTime, "PERTITLE_BUS_WAIT_TIME", c.WaitTime, "SQS long-polling wait (1s..20s)")
	e.Int(&c.Retries, "PERTITLE_BUS_RETRIES", c.Retries, "in-process retries of a failed handler before redelivery")
	e.Secret(&c.StateDB, "PERTITLE_STATE_DB", "", "postgres:// URL of the state database the replicas share (idempotency claims of events, webhooks and S3 notifications); empty keeps them in this process")
	e.String(&c.AccessKeyID, "AWS_ACCESS_KEY_ID", "", "AWS access key id (default: SDK credential chain; \"local\" against an emulator)")
	e.Secret(&c.SecretAccessKey, "AWS_SECRET_ACCESS_KEY", "", "AWS secret access key")
	return c
}

// CheckBus validates bus settings read by Bus.
func CheckBus(c bus.Config) error {
	return named("bus (PERTITLE_BUS_*, PERTITLE_AWS_*, PERTITLE_STATE_DB, AWS_*)", c.Validate())
}
