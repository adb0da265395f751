package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/bus"
)

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
		{name: "half credentials", mutate: func(c *bus.Config) { c.AccessKeyID = "x" }, errs: []string{"secret access key"}},
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
