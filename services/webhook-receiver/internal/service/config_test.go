package service

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/svc"
)

// TestSecretIsRequiredAndNotAPublishedOne: the receiver has no built-in secret, and
// refuses the one `make run` uses unless PERTITLE_DEV_MODE says this is a laptop.
func TestSecretIsRequiredAndNotAPublishedOne(t *testing.T) {
	t.Parallel()
	load := func(vars map[string]string) error {
		var cfg Config
		return svc.Load(svc.NewEnvFrom("webhook-receiver", vars), &cfg, nil, &bytes.Buffer{}, zap.NewNop())
	}
	require.ErrorContains(t, load(nil), "PERTITLE_BITMOVIN_WEBHOOK_SECRET must be set")
	for _, weak := range []string{"local-dev-secret", "CHANGE-ME", "e2e-secret", "too-short"} {
		err := load(map[string]string{"PERTITLE_BITMOVIN_WEBHOOK_SECRET": weak})
		require.ErrorContains(t, err, "PERTITLE_BITMOVIN_WEBHOOK_SECRET", weak)
		assert.ErrorContains(t, err, "PERTITLE_DEV_MODE=1", "the error says how to run it on a laptop")
	}
	assert.NoError(t, load(map[string]string{"PERTITLE_BITMOVIN_WEBHOOK_SECRET": "local-dev-secret", "PERTITLE_DEV_MODE": "true"}))
	assert.NoError(t, load(map[string]string{"PERTITLE_BITMOVIN_WEBHOOK_SECRET": "f1b8e0c2d4a6b8c0e2f4a6b8d0c2e4f6"}))
	assert.ErrorContains(t, load(map[string]string{"PERTITLE_BITMOVIN_WEBHOOK_SECRET": "f1b8e0c2d4a6b8c0e2f4a6b8d0c2e4f6",
		"PERTITLE_WEBHOOK_OPS_ADDR": "nowhere"}), "PERTITLE_WEBHOOK_OPS_ADDR")
}
