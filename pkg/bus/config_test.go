package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/svc"
)

func TestConfigFromEnv(t *testing.T) {
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
				assert.NoError(t, c.Validate())
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
			var c bus.Config
			c.FromEnv(e)
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

func TestConfigValidate(t *testing.T) {
	ok := bus.DefaultConfig()
	tests := []struct {
		name   string
		mutate func(c *bus.Config)
		errs   []string // substrings expected in the joined error; none means valid
	}{
		{name: "default is valid", mutate: func(*bus.Config) {}},
		{name: "memory needs no region", mutate: func(c *bus.Config) { c.Transport = bus.TransportMemory; c.Region = "" }},
		{name: "real AWS without account", mutate: func(c *bus.Config) { c.Endpoint = ""; c.AccountID = "" }},
		{name: "unknown transport", mutate: func(c *bus.Config) { c.Transport = "kafka" }, errs: []string{"transport"}},
		{name: "bad prefix", mutate: func(c *bus.Config) { c.Prefix = "a b" }, errs: []string{"prefix"}},
		{name: "zero wait time", mutate: func(c *bus.Config) { c.WaitTime = 0 }, errs: []string{"wait time"}},
		{name: "wait over 20s", mutate: func(c *bus.Config) { c.WaitTime = 21 * time.Second }, errs: []string{"wait time"}},
		{name: "fractional visibility", mutate: func(c *bus.Config) { c.VisibilityTimeout = 1500 * time.Millisecond }, errs: []string{"visibility"}},
		{name: "bad account", mutate: func(c *bus.Config) { c.AccountID = "12" }, errs: []string{"account"}},
		{name: "bad endpoint", mutate: func(c *bus.Config) { c.Endpoint = "goaws:4100" }, errs: []string{"endpoint"}},
		{name: "half credentials", mutate: func(c *bus.Config) { c.AccessKeyID = "x" }, errs: []string{"AWS_SECRET_ACCESS_KEY"}},
		{
			name: "all errors at once",
			mutate: func(c *bus.Config) {
				c.MaxReceives, c.Retries, c.DedupTTL, c.RetryInterval, c.Region = 0, -1, 0, -time.Second, ""
			},
			errs: []string{"max receives", "retries", "dedup", "retry interval", "region"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.errs) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, s := range tt.errs {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := bus.DefaultConfig()
	c.WaitTime = 0
	_, err := bus.New(context.Background(), c, "svc", nil, nil)
	require.Error(t, err)
	_, err = bus.New(context.Background(), bus.Config{}, "svc", nil, nil)
	require.Error(t, err)
}
