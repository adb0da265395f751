package svc_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/svc"
)

func TestEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		vars    map[string]string
		wantErr string
		check   func(t *testing.T, s string, n int, d time.Duration, b bool, secret string)
	}{
		{"defaults", nil, "", func(t *testing.T, s string, n int, d time.Duration, b bool, secret string) {
			assert.Equal(t, "def", s)
			assert.Equal(t, 7, n)
			assert.Equal(t, 3*time.Second, d)
			assert.True(t, b)
		}},
		{"set", map[string]string{"S": "x", "N": "9", "D": "1m", "B": "false", "K": "hush"}, "",
			func(t *testing.T, s string, n int, d time.Duration, b bool, secret string) {
				assert.Equal(t, "x", s)
				assert.Equal(t, 9, n)
				assert.Equal(t, time.Minute, d)
				assert.False(t, b)
				assert.Equal(t, "hush", secret)
			}},
		{"empty string is honoured", map[string]string{"S": ""}, "",
			func(t *testing.T, s string, n int, d time.Duration, b bool, secret string) { assert.Equal(t, "", s) }},
		{"every bad value reported", map[string]string{"N": "nine", "D": "soon", "B": "maybe"}, "N=\"nine\" is not an integer", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := svc.NewEnvFrom("test", tc.vars)
			var s, secret string
			var n int
			var d time.Duration
			var b bool
			e.String(&s, "S", "def", "a string")
			e.Int(&n, "N", 7, "a number")
			e.Duration(&d, "D", 3*time.Second, "a duration")
			e.Bool(&b, "B", true, "a flag")
			e.Secret(&secret, "K", "", "a secret")
			err := e.Parse(nil, &bytes.Buffer{})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.ErrorContains(t, err, "D=\"soon\"")
				assert.ErrorContains(t, err, "B=\"maybe\"")
				return
			}
			require.NoError(t, err)
			tc.check(t, s, n, d, b, secret)
			assert.NotContains(t, e.Fields()["K"], "hush", "secrets are masked")
		})
	}
}

func TestEnvHelpListsVariables(t *testing.T) {
	t.Parallel()
	e := svc.NewEnvFrom("test", nil)
	var s string
	e.String(&s, "PERTITLE_X", "1", "the x setting")
	var out bytes.Buffer
	err := e.Parse([]string{"--help"}, &out)
	require.ErrorIs(t, err, svc.ErrHelp)
	assert.Contains(t, out.String(), "PERTITLE_X")
	assert.Contains(t, out.String(), "the x setting")
	require.ErrorContains(t, e.Parse([]string{"--port=1"}, &out), "configured through environment variables")
}

type testConfig struct {
	port int
	name string
}

func (c *testConfig) FromEnv(e *svc.Env) {
	e.Int(&c.port, "PORT", 80, "port")
	e.String(&c.name, "NAME", "x", "name")
}

func (c *testConfig) Validate() error {
	var v svc.Validation
	v.Check(c.name != "", "NAME must be set")
	return v.Err()
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	var cfg testConfig
	err := svc.Load(svc.NewEnvFrom("test", map[string]string{"PORT": "eighty", "NAME": ""}), &cfg, nil, &bytes.Buffer{}, zap.NewNop())
	require.ErrorContains(t, err, `PORT="eighty" is not an integer`)
	require.ErrorContains(t, err, "NAME must be set", "validation runs even when a value did not parse")

	require.NoError(t, svc.Load(svc.NewEnvFrom("test", nil), &cfg, nil, &bytes.Buffer{}, zap.NewNop()))
	assert.Equal(t, 80, cfg.port)
	require.ErrorIs(t, svc.Load(svc.NewEnvFrom("test", nil), &cfg, []string{"--help"}, &bytes.Buffer{}, zap.NewNop()), svc.ErrHelp)
}

func TestEnvFieldsHideURLPasswords(t *testing.T) {
	t.Parallel()
	e := svc.NewEnvFrom("test", map[string]string{"DB": "postgres://catalog:hunter2@db:5432/catalog", "PATH_DB": "var/catalog.db"})
	var db, path string
	e.String(&db, "DB", "", "a database URL")
	e.String(&path, "PATH_DB", "", "a file")
	f := e.Fields()
	assert.Equal(t, "postgres://catalog:xxxxx@db:5432/catalog", f["DB"])
	assert.Equal(t, "var/catalog.db", f["PATH_DB"])
	assert.Equal(t, "postgres://catalog:hunter2@db:5432/catalog", db, "only the log is masked")
}
