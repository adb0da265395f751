package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeIssuer answers discovery and the token endpoint: the password grant for
// alice/secret, and refresh with rotation.
func fakeIssuer(t *testing.T, expiresIn int) (*httptest.Server, *atomic.Int64) {
	var refreshes atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "token_endpoint": srv.URL + "/token",
				"authorization_endpoint": srv.URL + "/authorize"})
		case "/token":
			require.NoError(t, r.ParseForm())
			assert.Equal(t, "pertitle-cli", r.PostForm.Get("client_id"))
			switch {
			case r.PostForm.Get("grant_type") == "password" && r.PostForm.Get("username") == "alice" && r.PostForm.Get("password") == "secret":
				_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-0", "refresh_token": "rt-0", "expires_in": expiresIn})
			case r.PostForm.Get("grant_type") == "refresh_token" && strings.HasPrefix(r.PostForm.Get("refresh_token"), "rt-"):
				n := refreshes.Add(1)
				_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + string(rune('0'+n)),
					"refresh_token": "rt-" + string(rune('0'+n)), "expires_in": 900})
			default:
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "wrong username or password"})
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &refreshes
}

func TestLoginTokenLogout(t *testing.T) {
	// t.Setenv: not parallel.
	tests := []struct {
		name          string
		expiresIn     int
		wantToken     string
		wantRefreshes int64
	}{
		{"valid token is printed as saved", 900, "at-0", 0},
		{"expiring token is refreshed and saved", 30, "at-1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, refreshes := fakeIssuer(t, tc.expiresIn)
			cfgDir := t.TempDir()
			t.Setenv("XDG_CONFIG_HOME", cfgDir)
			t.Setenv("HOME", cfgDir)
			t.Setenv("PERTITLE_OIDC_ISSUER", srv.URL)
			t.Setenv("PERTITLE_TOKEN", "")
			ctx := context.Background()
			var out, errOut bytes.Buffer

			err := cmdToken(ctx, nil, &out, &errOut)
			require.ErrorIs(t, err, errNotSignedIn)
			assert.Contains(t, err.Error(), "pertitle login")

			err = cmdLogin(ctx, []string{"--username", "alice", "--password-stdin"}, strings.NewReader("wrong\n"), &out, &errOut)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "wrong username or password")

			require.NoError(t, cmdLogin(ctx, []string{"--username", "alice", "--password-stdin"}, strings.NewReader("secret\n"), &out, &errOut))
			p, err := tokenPath()
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(p, cfgDir))
			st, err := os.Stat(p)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "token file is private")
			dst, err := os.Stat(filepath.Dir(p))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o700), dst.Mode().Perm(), "config dir is private")

			out.Reset()
			require.NoError(t, cmdToken(ctx, nil, &out, &errOut))
			assert.Equal(t, tc.wantToken+"\n", out.String())
			assert.Equal(t, tc.wantRefreshes, refreshes.Load())
			saved, err := loadToken()
			require.NoError(t, err)
			assert.Equal(t, tc.wantToken, saved.AccessToken, "the refreshed token is saved")
			st, err = os.Stat(p)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

			// Another issuer configured: the saved token is not used.
			t.Setenv("PERTITLE_OIDC_ISSUER", "http://other.example")
			require.ErrorIs(t, cmdToken(ctx, nil, &out, &errOut), errNotSignedIn)
			t.Setenv("PERTITLE_OIDC_ISSUER", srv.URL)

			require.NoError(t, cmdLogout(ctx, nil, &out, &errOut))
			require.ErrorIs(t, cmdToken(ctx, nil, &out, &errOut), errNotSignedIn)
		})
	}
}

func TestExpiredTokenWithoutRefresh(t *testing.T) {
	cfgDir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgDir)
	t.Setenv("HOME", cfgDir)
	t.Setenv("PERTITLE_OIDC_ISSUER", "http://issuer.test")
	t.Setenv("PERTITLE_TOKEN", "")
	require.NoError(t, saveToken(&tokenCache{Issuer: "http://issuer.test", AccessToken: "old", Expiry: time.Now().Add(-time.Hour)}))
	_, err := newTokenSource().Token(context.Background())
	require.ErrorIs(t, err, errNotSignedIn)
	assert.Contains(t, err.Error(), "expired")

	t.Setenv("PERTITLE_TOKEN", "from-env")
	tok, err := newTokenSource().Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "from-env", tok)
}

func TestUploadNeedsSignIn(t *testing.T) {
	cfgDir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgDir)
	t.Setenv("HOME", cfgDir)
	t.Setenv("PERTITLE_TOKEN", "")
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	require.NoError(t, os.WriteFile(clip, []byte("x"), 0o644))
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"upload", clip, "--ingest-url", "http://127.0.0.1:1"}, &out, &errOut)
	require.ErrorIs(t, err, errNotSignedIn)
	assert.Contains(t, err.Error(), "run `pertitle login`")
}
