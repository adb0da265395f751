package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pertitle/pertitle/services/issuer/internal/adapters/files"
	"github.com/pertitle/pertitle/services/issuer/internal/adapters/sqlstore"
	"github.com/pertitle/pertitle/services/issuer/internal/app"
	"github.com/pertitle/pertitle/services/issuer/internal/ports/oidc"
)

// loopbackAuthority reports whether a browser that reads authority (the text
// after http:// up to the first / ? # or \) goes to a loopback address with an
// explicit port, whatever Go's URL parser made of the whole.
func loopbackAuthority(authority string) bool {
	host, port, err := net.SplitHostPort(authority)
	if err != nil || port == "" || strings.Trim(port, "0123456789") != "" || strings.ContainsAny(authority, "@%") {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

const webRedirect = "http://app.test/callback"

// FuzzAuthorizeRedirect sends authorization requests with arbitrary clients and
// redirect URIs. The issuer only ever sends the browser back (303) to the web
// client's registered URI or, for the CLI, to a loopback address with a port.
func FuzzAuthorizeRedirect(f *testing.F) {
	for _, c := range []struct{ client, uri string }{
		{oidc.ClientWeb, webRedirect}, {oidc.ClientWeb, webRedirect + "/x"}, {oidc.ClientWeb, "http://app.test/callback?a=1"},
		{oidc.ClientCLI, "http://127.0.0.1:5555/cb"}, {oidc.ClientCLI, "http://localhost:1/"}, {oidc.ClientCLI, "http://[::1]:80"},
		{oidc.ClientCLI, "http://127.0.0.1/cb"}, {oidc.ClientCLI, "https://127.0.0.1:5555/"}, {oidc.ClientCLI, "http://user@127.0.0.1:1/"},
		{oidc.ClientCLI, "http://127.0.0.1:1\\@evil.test/"}, {oidc.ClientCLI, "http://127.0.0.1:1#@evil.test"},
		{oidc.ClientCLI, "http://127.1:1/"}, {oidc.ClientCLI, "http://0x7f000001:1/"}, {oidc.ClientCLI, "http://[::ffff:127.0.0.1]:1/"},
		{oidc.ClientCLI, "http://localhost.evil.test:1/"}, {oidc.ClientCLI, "//127.0.0.1:1/"}, {"other", "http://127.0.0.1:1/"},
	} {
		f.Add(c.client, c.uri)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	keys, err := files.NewKeySet(key)
	if err != nil {
		f.Fatal(err)
	}
	usersFile := filepath.Join(f.TempDir(), "users.json")
	if _, err := files.PutUser(usersFile, "alice", "alice-pw", nil, bcrypt.MinCost); err != nil {
		f.Fatal(err)
	}
	users, err := files.LoadUsers(usersFile)
	if err != nil {
		f.Fatal(err)
	}
	store, err := sqlstore.Open(context.Background(), filepath.Join(f.TempDir(), "issuer.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	mux := http.NewServeMux()
	oidc.New(oidc.Config{Issuer: "http://issuer.test", Audience: "pertitle", WebRedirectURIs: []string{webRedirect}},
		keys, users, &app.State{Store: store, Now: time.Now, RefreshTTL: time.Hour}).Register(mux)
	f.Fuzz(func(t *testing.T, client, redirect string) {
		q := url.Values{"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"token"}, "state": {"s"}}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/authorize?"+q.Encode(), nil))
		if rec.Code >= 500 {
			t.Fatalf("answered %d", rec.Code)
		}
		if rec.Code != http.StatusSeeOther {
			return
		}
		loc := rec.Header().Get("Location")
		if client == oidc.ClientWeb && strings.HasPrefix(loc, webRedirect+"?") {
			return
		}
		rest, ok := strings.CutPrefix(loc, "http://")
		authority := rest
		if i := strings.IndexAny(rest, "/?#\\"); i >= 0 {
			authority = rest[:i]
		}
		if client != oidc.ClientCLI || !ok || !loopbackAuthority(authority) {
			t.Fatalf("client %q with redirect_uri %q sends the browser to %q", client, redirect, loc)
		}
	})
}
