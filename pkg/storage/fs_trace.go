package storage

import (
	"context"
	"errors"
	"io"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pertitle/pertitle/pkg/tracing"
)

// The filesystem store's calls made inside a trace are spans ("FS.Put",
// "FS.Open", ...), as the S3 store's are (its SDK calls' spans), so that a
// trace shows the storage work of a service whichever store it runs on. The
// spans are made here, by the methods themselves, not by a wrapper around the
// store, which would hide what else *FS is (a Localizer, a Mover, the owner of
// the staging directory).

// Put streams r into key, replacing it atomically.
func (f *FS) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	return traced(ctx, "Put", key, func(ctx context.Context) (int64, error) { return f.put(ctx, key, r) })
}

// Create writes r into key only if key holds no object.
func (f *FS) Create(ctx context.Context, key string, r io.Reader) (int64, error) {
	return traced(ctx, "Create", key, func(ctx context.Context) (int64, error) { return f.create(ctx, key, r) })
}

// Open opens key for reading; the span ends once it is open.
func (f *FS) Open(ctx context.Context, key string) (ReadSeekCloser, Object, error) {
	var obj Object
	rc, err := traced(ctx, "Open", key, func(context.Context) (ReadSeekCloser, error) {
		rc, o, err := f.open(key)
		obj = o
		return rc, err
	})
	return rc, obj, err
}

// Stat describes key.
func (f *FS) Stat(ctx context.Context, key string) (Object, error) {
	return traced(ctx, "Stat", key, func(context.Context) (Object, error) { return f.stat(key) })
}

// Delete removes key; a missing key is no error.
func (f *FS) Delete(ctx context.Context, key string) error {
	_, err := traced(ctx, "Delete", key, func(context.Context) (struct{}, error) { return struct{}{}, f.delete(key) })
	return err
}

// DeletePrefix removes every object under prefix.
func (f *FS) DeletePrefix(ctx context.Context, prefix string) error {
	_, err := traced(ctx, "DeletePrefix", prefix, func(context.Context) (struct{}, error) { return struct{}{}, f.deletePrefix(prefix) })
	return err
}

// List lists the objects under prefix, sorted by key.
func (f *FS) List(ctx context.Context, prefix string) ([]Object, error) {
	return traced(ctx, "List", prefix, func(context.Context) ([]Object, error) { return f.list(prefix) })
}

// Move makes the local file at src the object key, renaming it when it lives on
// the same filesystem and copying it otherwise.
func (f *FS) Move(ctx context.Context, src, key string) error {
	_, err := traced(ctx, "Move", key, func(ctx context.Context) (struct{}, error) { return struct{}{}, f.move(ctx, src, key) })
	return err
}

// traced runs fn inside a span "FS.<op>" under the one in ctx (none outside a
// trace). A key that holds no object, or already holds one, is an answer, not
// a failure: the span records it without an error status.
func traced[T any](ctx context.Context, op, key string, fn func(context.Context) (T, error)) (T, error) {
	ctx, span := tracing.Child(ctx, "FS."+op, trace.SpanKindInternal,
		attribute.String("storage.system", KindFS), attribute.String("storage.key", key))
	v, err := fn(ctx)
	spanErr := err
	switch {
	case errors.Is(err, ErrNotFound):
		span.SetAttributes(attribute.Bool("storage.not_found", true))
		spanErr = nil
	case errors.Is(err, ErrExists):
		span.SetAttributes(attribute.Bool("storage.exists", true))
		spanErr = nil
	}
	tracing.End(span, spanErr)
	return v, err
}
