package svc_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pertitle/pertitle/pkg/svc"
)

func TestWeakSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		signing bool
		weak    bool
	}{
		{"local-dev-secret", true, true},
		{"LOCAL_DEV_SECRET", false, true},
		{"CHANGE-ME", false, true},
		{"CHANGE-ME-at-least-16-bytes", true, true},
		{"please-replace-me-0123456789", true, true},
		{"<your-secret-here>", true, true},
		{"aaaaaaaaaaaaaaaaaaaaaaaa", true, true},
		{"short-but-random", false, false}, // an API key or AWS secret: no length rule
		{"k3Y-9f", true, true},             // too short for an HMAC key
		{"9b1f0c3e7a4d2f6b8e0a1c3d5f7b9e2a", true, false},
		{"8Xo2J3q4mL0vN7tR1yZ5wC9kB6hF2dG4sA8pE0uI3=", true, false},
	} {
		assert.Equal(t, tc.weak, svc.WeakSecret(tc.value, tc.signing) != "", "%q", tc.value)
	}
}

type secretConfig struct{ key, apiKey string }

func (c *secretConfig) FromEnv(e *svc.Env) {
	e.SigningKey(&c.key, "PERTITLE_TEST_KEY", "", "an HMAC key")
	e.Secret(&c.apiKey, "PERTITLE_TEST_API_KEY", "", "someone else's API key")
}
func (c *secretConfig) Validate() error { return nil }

func TestLoadRefusesWeakSecretsOutsideDevMode(t *testing.T) {
	t.Parallel()
	weak := map[string]string{"PERTITLE_TEST_KEY": "local-dev-secret", "PERTITLE_TEST_API_KEY": "CHANGE-ME"}
	err := svc.Load(svc.NewEnvFrom("test", weak), &secretConfig{}, nil, &bytes.Buffer{}, zap.NewNop())
	require.Error(t, err)
	assert.ErrorContains(t, err, "PERTITLE_TEST_KEY is a published default")
	assert.ErrorContains(t, err, "PERTITLE_TEST_API_KEY is a placeholder")
	assert.NotContains(t, err.Error(), "local-dev-secret", "the value itself is never printed")
	assert.NotContains(t, err.Error(), "CHANGE-ME")

	// Reported with the other problems of the same start.
	bad := map[string]string{"PERTITLE_TEST_KEY": "short", "PERTITLE_DEV_MODE": "maybe"}
	err = svc.Load(svc.NewEnvFrom("test", bad), &secretConfig{}, nil, &bytes.Buffer{}, zap.NewNop())
	assert.ErrorContains(t, err, `PERTITLE_DEV_MODE="maybe" is not a boolean`)
	assert.ErrorContains(t, err, "PERTITLE_TEST_KEY is shorter than 16 bytes")

	// Unset secrets are the service's business (required, or generated).
	require.NoError(t, svc.Load(svc.NewEnvFrom("test", nil), &secretConfig{}, nil, &bytes.Buffer{}, zap.NewNop()))
	strong := map[string]string{"PERTITLE_TEST_KEY": "9b1f0c3e7a4d2f6b8e0a1c3d5f7b9e2a", "PERTITLE_TEST_API_KEY": "b7c6a1d2-0000-4000-8000-123456789abc"}
	require.NoError(t, svc.Load(svc.NewEnvFrom("test", strong), &secretConfig{}, nil, &bytes.Buffer{}, zap.NewNop()))
}

func TestDevModeAcceptsWeakSecretsLoudly(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	vars := map[string]string{"PERTITLE_TEST_KEY": "local-dev-secret", "PERTITLE_DEV_MODE": "1"}
	require.NoError(t, svc.Load(svc.NewEnvFrom("test", vars), &secretConfig{}, nil, &bytes.Buffer{}, zap.New(core)))
	warns := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("DEVELOPMENT MODE").All()
	require.Len(t, warns, 1)
	assert.Equal(t, []any{"PERTITLE_TEST_KEY"}, warns[0].ContextMap()["weak_secrets"])

	var help bytes.Buffer
	require.ErrorIs(t, svc.Load(svc.NewEnvFrom("test", nil), &secretConfig{}, []string{"--help"}, &help, zap.NewNop()), svc.ErrHelp)
	assert.Contains(t, help.String(), "PERTITLE_DEV_MODE")
	assert.NotContains(t, help.String(), "local-dev-secret")
}
