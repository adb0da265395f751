package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// keeper keeps the spans when the provider shuts down (flushing them).
type keeper struct{ *tracetest.InMemoryExporter }

func (keeper) Shutdown(context.Context) error { return nil }

// The filesystem store's calls inside a trace are child spans named for the
// operation, with the key; a missing key is no failure, a real one is; calls
// outside a trace make none. *FS stays a Localizer and a Mover.
func TestFSCallsAreSpans(t *testing.T) {
	exp := keeper{tracetest.NewInMemoryExporter()}
	shutdown, err := tracing.Setup(context.Background(), tracing.Config{Service: "test", Exporter: exp})
	require.NoError(t, err)
	fs, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	var st storage.Storage = fs
	_, isLocal := st.(storage.Localizer)
	_, isMover := st.(storage.Mover)
	assert.True(t, isLocal && isMover, "the traced store is still a Localizer and a Mover")

	bg := context.Background()
	_, err = st.Put(bg, "outside/a", strings.NewReader("x"))
	require.NoError(t, err)

	ctx, root := tracing.Tracer().Start(bg, "root")
	_, err = st.Put(ctx, "assets/a/source", strings.NewReader("hello"))
	require.NoError(t, err)
	rc, obj, err := st.Open(ctx, "assets/a/source")
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, int64(5), obj.Size)
	_, err = st.Stat(ctx, "assets/a/missing")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = st.Create(ctx, "assets/a/source", strings.NewReader("again"))
	assert.ErrorIs(t, err, storage.ErrExists)
	_, err = st.Put(ctx, "../escape", strings.NewReader("x"))
	assert.ErrorIs(t, err, storage.ErrInvalidKey)
	_, err = st.List(ctx, "assets/")
	require.NoError(t, err)
	require.NoError(t, st.DeletePrefix(ctx, "assets/a"))
	root.End()
	require.NoError(t, shutdown(bg))

	type got struct {
		name, key string
		failed    bool
	}
	var spans []got
	for _, s := range exp.GetSpans() {
		if s.Name == "root" {
			continue
		}
		assert.Equal(t, root.SpanContext().SpanID(), s.Parent.SpanID(), "%s is a child of the caller's span", s.Name)
		var key string
		for _, a := range s.Attributes {
			if a.Key == "storage.key" {
				key = a.Value.AsString()
			}
		}
		spans = append(spans, got{s.Name, key, s.Status.Code == codes.Error})
	}
	assert.Equal(t, []got{
		{"FS.Put", "assets/a/source", false},
		{"FS.Open", "assets/a/source", false},
		{"FS.Stat", "assets/a/missing", false},
		{"FS.Create", "assets/a/source", false},
		{"FS.Put", "../escape", true},
		{"FS.List", "assets/", false},
		{"FS.DeletePrefix", "assets/a", false},
	}, spans, "one span per call inside the trace, none for the call outside it")
}
