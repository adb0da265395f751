package service

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/svc"
)

// TestWebhookSecretIsRequiredAndNotAPublishedOne: encoder-dispatch signs the local
// backend's webhooks with the receiver's secret; a published one lets anyone forge them.
func TestWebhookSecretIsRequiredAndNotAPublishedOne(t *testing.T) {
	t.Parallel()
	load := func(vars map[string]string) error {
		var cfg Config
		return svc.Load(svc.NewEnvFrom("encoder-dispatch", vars), &cfg, nil, &bytes.Buffer{}, zap.NewNop())
	}
	require.ErrorContains(t, load(nil), "PERTITLE_BITMOVIN_WEBHOOK_SECRET must be set")
	err := load(map[string]string{"PERTITLE_BITMOVIN_WEBHOOK_SECRET": "local-dev-secret"})
	require.ErrorContains(t, err, "PERTITLE_BITMOVIN_WEBHOOK_SECRET is a published default")
	assert.NoError(t, load(map[string]string{"PERTITLE_BITMOVIN_WEBHOOK_SECRET": "local-dev-secret", "PERTITLE_DEV_MODE": "1"}))
	assert.NoError(t, load(map[string]string{"PERTITLE_BITMOVIN_WEBHOOK_SECRET": "f1b8e0c2d4a6b8c0e2f4a6b8d0c2e4f6"}))
}

// TestLadderModes: PERTITLE_LADDER_MODE takes the four ladder modes and
// nothing else, naming the variable when it refuses one.
func TestLadderModes(t *testing.T) {
	t.Parallel()
	load := func(mode string) (Config, error) { return loadWith("PERTITLE_LADDER_MODE", mode) }
	for _, mode := range []string{"fixed", "static", "pertitle", "pershot"} {
		cfg, err := load(mode)
		require.NoError(t, err, mode)
		assert.Equal(t, mode, cfg.PerTitle.LadderMode)
	}
	_, err := load("pershots")
	require.ErrorContains(t, err, `PERTITLE_LADDER_MODE="pershots"`)
}

// TestAnalysisBudget: PERTITLE_ANALYSIS_BUDGET reaches the local backend's
// engine options; a negative or infinite share is refused naming the
// variable.
func TestAnalysisBudget(t *testing.T) {
	t.Parallel()
	load := func(budget string) (Config, error) { return loadWith("PERTITLE_ANALYSIS_BUDGET", budget) }
	cfg, err := load("0.4")
	require.NoError(t, err)
	assert.Equal(t, 0.4, cfg.PerTitle.backend().AnalysisBudget)
	cfg, err = load("0")
	require.NoError(t, err)
	assert.Zero(t, cfg.PerTitle.backend().AnalysisBudget, "0: the preset's default")
	for _, bad := range []string{"-0.1", "+Inf", "NaN"} {
		_, err = load(bad)
		require.ErrorContains(t, err, "PERTITLE_ANALYSIS_BUDGET=", bad)
	}
}

// loadWith loads encoder-dispatch's configuration with a webhook secret
// and name=value.
func loadWith(name, value string) (Config, error) {
	var cfg Config
	err := svc.Load(svc.NewEnvFrom("encoder-dispatch", map[string]string{"PERTITLE_BITMOVIN_WEBHOOK_SECRET": "f1b8e0c2d4a6b8c0e2f4a6b8d0c2e4f6",
		name: value}), &cfg, nil, &bytes.Buffer{}, zap.NewNop())
	return cfg, err
}
