// Package tracing turns the W3C traceparent that pertitle's events and requests
// carry into OpenTelemetry spans: setting up the tracer provider and its OTLP
// exporter, the spans of HTTP servers and clients, and child spans for work
// done inside a trace (ffmpeg runs, storage and AWS calls).
//
// A process always gets a real tracer provider, so span and trace ids exist for
// logs and for the traceparent of what it publishes; spans leave the process
// only when an OTLP endpoint is configured (Config.Export).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Scope is the instrumentation scope of every span pertitle makes.
const Scope = "github.com/pertitle/pertitle"

// Config is what Setup needs; the caller reads it from the environment.
type Config struct {
	Service, Version string
	// Export sends spans over OTLP/HTTP; the exporter reads the standard
	// OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout) itself.
	Export bool
	// Exporter replaces the OTLP exporter (tests).
	Exporter sdktrace.SpanExporter
}

// Setup installs the global tracer provider and the W3C trace-context
// propagator. The returned function flushes what is buffered and stops the
// exporter; call it once before the process exits.
func Setup(ctx context.Context, c Config) (shutdown func(context.Context) error, err error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", c.Service), attribute.String("service.version", c.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(), resource.WithProcessPID())
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exp := c.Exporter
	if exp == nil && c.Export {
		if exp, err = otlptracehttp.New(ctx); err != nil {
			return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
		}
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// Tracer is pertitle's tracer on the global provider.
func Tracer() trace.Tracer { return otel.Tracer(Scope) }

// InTrace reports whether ctx carries a span context (local or remote).
func InTrace(ctx context.Context) bool { return trace.SpanContextFromContext(ctx).IsValid() }

// Child starts a span under the one in ctx. Outside a trace it starts none and
// returns ctx and a span that records nothing: background loops (polling,
// sweeping, heartbeats) do not each become a trace of their own.
func Child(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !InTrace(ctx) {
		return ctx, trace.SpanFromContext(ctx)
	}
	return Tracer().Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// End ends span, marking it failed when err is not nil.
func End(span trace.Span, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Traceparent is the W3C traceparent of the span in ctx, or "" outside a trace.
func Traceparent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// WithRemoteParent returns ctx with the span context that traceparent names as
// its remote parent; a malformed or empty traceparent leaves ctx as it is.
func WithRemoteParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// IDs is one log field that writes the trace_id and span_id of ctx inline, and
// nothing outside a trace: log.Info("...", tracing.IDs(ctx), ...). Handlers
// that log through a logger of their own take it from Logger instead.
func IDs(ctx context.Context) zap.Field {
	return zap.Inline(ids(trace.SpanContextFromContext(ctx)))
}

type ids trace.SpanContext

func (i ids) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	sc := trace.SpanContext(i)
	if sc.IsValid() {
		enc.AddString("trace_id", sc.TraceID().String())
		enc.AddString("span_id", sc.SpanID().String())
	}
	return nil
}

// Logger is log with the trace and span ids of ctx.
func Logger(ctx context.Context, log *zap.Logger) *zap.Logger {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return log.With(IDs(ctx))
	}
	return log
}

// FlushTimeout bounds the export of the spans still buffered at exit.
const FlushTimeout = 5 * time.Second
