package tracing

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// AWS is an APIOptions entry of the AWS SDK (aws.Config.APIOptions) giving
// every call made inside a trace a client span named "<service>.<operation>"
// ("S3.PutObject", "SNS.Publish"), retries included. Calls outside a trace
// (long polls, sweeps) get none.
func AWS(stack *middleware.Stack) error {
	// After the operation's own initializers, which record its service and name.
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("pertitle-tracing",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			svc, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
			ctx, span := Child(ctx, svc+"."+op, trace.SpanKindClient, attribute.String("rpc.system", "aws-api"),
				attribute.String("rpc.service", svc), attribute.String("rpc.method", op))
			out, md, err := next.HandleInitialize(ctx, in)
			End(span, err)
			return out, md, err
		}), middleware.After)
}
