package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/pertitle/pertitle/pkg/tracing"
)

// awsConfig builds the SDK configuration: region, endpoint and credentials (static
// when given, "local"/"local" against an emulator, the default chain on real AWS).
func awsConfig(ctx context.Context, cfg Config) (aws.Config, error) {
	timeout := cfg.WaitTime + 30*time.Second
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(timeout)),
	}
	switch {
	case cfg.AccessKeyID != "":
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	case cfg.Endpoint != "":
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	if cfg.Endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(cfg.Endpoint))
	}
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("bus: cannot load AWS configuration: %w", err)
	}
	if ac.Credentials == nil {
		return aws.Config{}, errors.New("bus: no AWS credentials found")
	}
	ac.APIOptions = append(ac.APIOptions, tracing.AWS)
	return ac, nil
}

type awsClients struct {
	sns *sns.Client
	sqs *sqs.Client
}

func newAWSClients(ctx context.Context, cfg Config) (awsClients, error) {
	ac, err := awsConfig(ctx, cfg)
	if err != nil {
		return awsClients{}, err
	}
	return awsClients{sns: sns.NewFromConfig(ac), sqs: sqs.NewFromConfig(ac)}, nil
}

// isMissingTopic reports whether err says the topic does not exist: goaws
// answers with the legacy query-protocol codes, AWS with the typed errors.
func isMissingTopic(err error) bool {
	var nf *snstypes.NotFoundException
	if errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AWS.SimpleNotificationService.NonExistentTopic", "NotFound", "NotFoundException":
			return true
		}
	}
	return false
}

func isMissingQueue(err error) bool {
	var nq *sqstypes.QueueDoesNotExist
	if errors.As(err, &nq) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist":
			return true
		}
	}
	return false
}

func isMissingSubscription(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && strings.Contains(ae.ErrorCode(), "NonExistentSubscription")
}

// topicARN builds the ARN of a topic from region and account.
func topicARN(region, account, name string) string {
	partition := "aws"
	switch {
	case strings.HasPrefix(region, "cn-"):
		partition = "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		partition = "aws-us-gov"
	}
	return "arn:" + partition + ":sns:" + region + ":" + account + ":" + name
}

// findTopicARN looks a topic up by name without creating it.
func findTopicARN(ctx context.Context, c *sns.Client, name string) (string, error) {
	p := sns.NewListTopicsPaginator(c, &sns.ListTopicsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return "", err
		}
		for _, t := range out.Topics {
			arn := aws.ToString(t.TopicArn)
			if arn[strings.LastIndex(arn, ":")+1:] == name {
				return arn, nil
			}
		}
	}
	return "", notProvisioned("topic", name, errors.New("not found by ListTopics"))
}
