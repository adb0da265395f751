package svc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/svc"
)

func TestTogetherStopsEveryPartWhenOneStops(t *testing.T) {
	t.Parallel()
	boom := errors.New("listener failed")
	stopped := make(chan struct{})
	err := svc.Together(context.Background(),
		func(ctx context.Context) error { return boom },
		func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil },
	)
	require.ErrorIs(t, err, boom)
	select {
	case <-stopped:
	default:
		t.Fatal("the other part was not stopped and awaited")
	}
}

func TestTogetherEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := svc.Together(ctx,
		func(ctx context.Context) error { <-ctx.Done(); return nil },
		func(ctx context.Context) error { <-ctx.Done(); return nil },
	)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}
