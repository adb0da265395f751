package bus

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/pertitle/pertitle/pkg/idempotency"
)

// Config configures a Bus and Provision.
type Config struct {
	// Transport is TransportAWS (SNS+SQS, real or emulated) or TransportMemory.
	Transport string
	// Prefix is prepended to every topic and queue name (isolates environments and tests).
	Prefix string
	// Endpoint is the emulator's URL (goaws); empty means real AWS.
	Endpoint string
	// Region must equal the emulator's Region (ARNs are built from it).
	Region string
	// AccountID builds topic ARNs; empty means resolve them with ListTopics.
	AccountID string
	// AccessKeyID/SecretAccessKey are static credentials; empty means the SDK default
	// chain on real AWS, or "local"/"local" against an emulator.
	AccessKeyID     string
	SecretAccessKey string
	// MaxReceives is the redrive policy's maxReceiveCount: after that many receives a
	// failing message moves to the dead-letter queue.
	MaxReceives int
	// VisibilityTimeout hides a received message from other consumers; a running
	// handler extends it every VisibilityTimeout/3.
	VisibilityTimeout time.Duration
	// WaitTime is the long-polling wait of ReceiveMessage (1s..20s, never 0).
	WaitTime time.Duration
	// Retries is the number of in-process retries after a failed attempt.
	Retries int
	// RetryInterval is the first in-process backoff, doubled at every retry. The memory
	// transport also redelivers a nacked message after it.
	RetryInterval time.Duration
	// DedupTTL is how long a handled event's claim is kept: a copy arriving
	// within it is dropped.
	DedupTTL time.Duration
	// StateDB is the postgres:// URL of the idempotency store shared by the
	// replicas (pkg/idempotency); empty keeps claims in this process.
	StateDB string
	// DeadLetterSweep is how often the dead-letter queues are read when a
	// DeadLetterHandler is registered (default 10 s).
	DeadLetterSweep time.Duration
	// Drain is how long Run lets in-flight handlers finish once asked to
	// stop (default ShutdownTimeout); past it their context is cancelled and
	// their messages are handed back at once.
	Drain time.Duration
	// Memory is the in-process broker shared by the Bus instances of one process
	// (memory transport); nil means a private broker.
	Memory *MemoryBroker
}

func (c Config) drain() time.Duration {
	if c.Drain > 0 {
		return c.Drain
	}
	return ShutdownTimeout
}

var (
	namePart  = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
)

// maxPrefix keeps the longest queue name (prefix + service + "--" + topic + "-dlq")
// within SQS's 80 characters.
const maxPrefix = 30

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Transport {
	case TransportAWS, TransportMemory:
	default:
		add("bus transport %q is neither %q nor %q", c.Transport, TransportAWS, TransportMemory)
	}
	if !namePart.MatchString(c.Prefix) || len(c.Prefix) > maxPrefix {
		add("bus prefix %q must be at most %d letters, digits, '-' or '_'", c.Prefix, maxPrefix)
	}
	if c.MaxReceives < 1 || c.MaxReceives > 1000 {
		add("bus max receives %d must be between 1 and 1000", c.MaxReceives)
	}
	if c.VisibilityTimeout < time.Second || c.VisibilityTimeout > 12*time.Hour || c.VisibilityTimeout%time.Second != 0 {
		add("bus visibility timeout %s must be whole seconds between 1s and 12h", c.VisibilityTimeout)
	}
	if c.WaitTime < time.Second || c.WaitTime > 20*time.Second || c.WaitTime%time.Second != 0 {
		add("bus wait time %s must be whole seconds between 1s and 20s (0 would busy-poll)", c.WaitTime)
	}
	if c.Retries < 0 || c.Retries > 20 {
		add("bus retries %d must be between 0 and 20", c.Retries)
	}
	if c.RetryInterval < 0 {
		add("bus retry interval %s must not be negative", c.RetryInterval)
	}
	if c.DedupTTL <= 0 {
		add("bus dedup TTL %s must be positive", c.DedupTTL)
	}
	if err := idempotency.CheckURL(c.StateDB); err != nil {
		add("state database: %v", err)
	}
	if c.Transport == TransportAWS {
		if c.Region == "" {
			add("AWS region is empty")
		}
		if c.AccountID != "" && !accountRe.MatchString(c.AccountID) {
			add("AWS account id %q is not 12 digits", c.AccountID)
		}
		if c.Endpoint != "" {
			u, err := url.Parse(c.Endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("AWS endpoint %q is not an http(s) URL", c.Endpoint)
			}
		}
		if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
			add("set both the AWS access key id and secret access key, or neither")
		}
	}
	return errors.Join(errs...)
}

func (c Config) queue(service, topic string) string { return QueueName(c.Prefix, service, topic) }
