package settings_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/settings"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/svc"
)

func TestBus(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c bus.Config)
		wantErr bool
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			check: func(t *testing.T, c bus.Config) {
				d := bus.DefaultConfig()
				assert.Equal(t, d.Transport, c.Transport)
				assert.Equal(t, d.Endpoint, c.Endpoint)
				assert.Equal(t, d.Prefix, c.Prefix)
				assert.Equal(t, d.MaxReceives, c.MaxReceives)
				assert.Equal(t, d.VisibilityTimeout, c.VisibilityTimeout)
				assert.Equal(t, d.WaitTime, c.WaitTime)
				assert.Equal(t, d.RetryInterval, c.RetryInterval)
				assert.Equal(t, d.DedupTTL, c.DedupTTL)
				assert.Empty(t, c.AccessKeyID)
				assert.NoError(t, settings.CheckBus(c))
			},
		},
		{
			name: "overrides",
			env: map[string]string{
				"PERTITLE_BUS_TRANSPORT": "memory", "PERTITLE_AWS_ENDPOINT": "http://goaws:4100",
				"PERTITLE_AWS_REGION": "eu-west-1", "PERTITLE_AWS_ACCOUNT_ID": "123456789012",
				"PERTITLE_BUS_PREFIX": "dev-", "PERTITLE_BUS_MAX_RECEIVES": "7",
				"PERTITLE_BUS_VISIBILITY_TIMEOUT": "5m", "PERTITLE_BUS_WAIT_TIME": "10s", "PERTITLE_BUS_RETRIES": "1",
				"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret",
			},
			check: func(t *testing.T, c bus.Config) {
				assert.Equal(t, bus.Config{Transport: "memory", Endpoint: "http://goaws:4100", Region: "eu-west-1",
					AccountID: "123456789012", Prefix: "dev-", MaxReceives: 7, VisibilityTimeout: 5 * time.Minute,
					WaitTime: 10 * time.Second, Retries: 1, AccessKeyID: "AKIA", SecretAccessKey: "secret",
					RetryInterval: bus.DefaultConfig().RetryInterval, DedupTTL: bus.DefaultConfig().DedupTTL}, c)
			},
		},
		{
			name:  "real AWS",
			env:   map[string]string{"PERTITLE_AWS_ENDPOINT": "none"},
			check: func(t *testing.T, c bus.Config) { assert.Empty(t, c.Endpoint) },
		},
		{name: "bad integer", env: map[string]string{"PERTITLE_BUS_MAX_RECEIVES": "many"}, wantErr: true},
		{name: "bad duration", env: map[string]string{"PERTITLE_BUS_WAIT_TIME": "20"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := svc.NewEnvFrom("test", tt.env)
			c := settings.Bus(e)
			err := e.Parse(nil, nil)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
			assert.Contains(t, e.Names(), "PERTITLE_BUS_TRANSPORT")
			if tt.env["AWS_SECRET_ACCESS_KEY"] != "" {
				assert.Equal(t, "***", e.Fields()["AWS_SECRET_ACCESS_KEY"], "the secret is masked")
			}
		})
	}
}

func TestChecksNameTheVariables(t *testing.T) {
	t.Parallel()
	e := svc.NewEnvFrom("test", map[string]string{"PERTITLE_STORAGE": "gcs", "PERTITLE_BUS_WAIT_TIME": "0s",
		"PERTITLE_BUS_RETRIES": "-1", "PERTITLE_OIDC_ISSUER": "issuer.example"})
	err := errors.Join(settings.CheckStorage(settings.Storage(e)), settings.CheckBus(settings.Bus(e)), settings.CheckOIDC(settings.OIDC(e)))
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 4, "one line per problem: %v", err)
	assert.Contains(t, lines[0], "PERTITLE_STORAGE")
	assert.Contains(t, lines[0], `storage kind "gcs" is not supported`)
	for _, l := range lines[1:3] {
		assert.Contains(t, l, "PERTITLE_BUS_*", "each bus problem names the variables")
	}
	assert.Contains(t, lines[3], "PERTITLE_OIDC_ISSUER")
	for _, check := range []error{settings.CheckStorage(settings.Storage(svc.NewEnvFrom("test", nil))),
		settings.CheckBus(settings.Bus(svc.NewEnvFrom("test", nil))), settings.CheckOIDC(settings.OIDC(svc.NewEnvFrom("test", nil)))} {
		assert.NoError(t, check, "the defaults are valid")
	}
}

func TestStorageAndOIDCKeepTheirVariablesAndDefaults(t *testing.T) {
	t.Parallel()
	e := svc.NewEnvFrom("test", map[string]string{"PERTITLE_STORAGE": "s3", "PERTITLE_S3_ENDPOINT": "http://127.0.0.1:4569",
		"PERTITLE_S3_PART_SIZE": "65536", "PERTITLE_OIDC_AUDIENCE": "a,b"})
	st := settings.Storage(e)
	oidc := settings.OIDC(e)
	require.NoError(t, e.Parse(nil, nil))
	assert.Equal(t, "s3", st.Kind)
	assert.Equal(t, "var/storage", st.Dir)
	assert.Equal(t, "http://127.0.0.1:4569", st.S3.Endpoint)
	assert.Equal(t, int64(65536), st.S3.PartSize)
	assert.Equal(t, "pertitle-input", st.S3.InputBucket)
	assert.Equal(t, "pertitle-output", st.S3.OutputBucket)
	assert.Equal(t, "us-east-1", st.S3.Region)
	assert.Equal(t, settings.DefaultIssuer, oidc.Issuer)
	assert.Equal(t, "a,b", oidc.Audience)
	assert.Equal(t, []string{"PERTITLE_OIDC_AUDIENCE", "PERTITLE_OIDC_ISSUER", "PERTITLE_S3_ENDPOINT", "PERTITLE_S3_INPUT_BUCKET",
		"PERTITLE_S3_OUTPUT_BUCKET", "PERTITLE_S3_PART_SIZE", "PERTITLE_S3_REGION", "PERTITLE_STORAGE", "PERTITLE_STORAGE_DIR"}, e.Names(),
		"--help lists every variable")
}
