package issuer_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/pertitle/pertitle/services/issuer/internal/issuer"
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
		{issuer.ClientWeb, webRedirect}, {issuer.ClientWeb, webRedirect + "/x"}, {issuer.ClientWeb, "http://app.test/callback?a=1"},
		{issuer.ClientCLI, "http://127.0.0.1:5555/cb"}, {issuer.ClientCLI, "http://localhost:1/"}, {issuer.ClientCLI, "http://[::1]:80"},
		{issuer.ClientCLI, "http://127.0.0.1/cb"}, {issuer.ClientCLI, "https://127.0.0.1:5555/"}, {issuer.ClientCLI, "http://user@127.0.0.1:1/"},
		{issuer.ClientCLI, "http://127.0.0.1:1\\@evil.test/"}, {issuer.ClientCLI, "http://127.0.0.1:1#@evil.test"},
		{issuer.ClientCLI, "http://127.1:1/"}, {issuer.ClientCLI, "http://0x7f000001:1/"}, {issuer.ClientCLI, "http://[::ffff:127.0.0.1]:1/"},
		{issuer.ClientCLI, "http://localhost.evil.test:1/"}, {issuer.ClientCLI, "//127.0.0.1:1/"}, {"other", "http://127.0.0.1:1/"},
	} {
		f.Add(c.client, c.uri)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	keys, err := issuer.NewKeySet(key)
	if err != nil {
		f.Fatal(err)
	}
	usersFile := filepath.Join(f.TempDir(), "users.json")
	if _, err := issuer.PutUser(usersFile, "alice", "alice-pw", nil, bcrypt.MinCost); err != nil {
		f.Fatal(err)
	}
	users, err := issuer.LoadUsers(usersFile)
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	issuer.New(issuer.Config{Issuer: "http://issuer.test", Audience: "pertitle", WebRedirectURIs: []string{webRedirect}},
		keys, users).Register(mux)
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
		if client == issuer.ClientWeb && strings.HasPrefix(loc, webRedirect+"?") {
			return
		}
		rest, ok := strings.CutPrefix(loc, "http://")
		authority := rest
		if i := strings.IndexAny(rest, "/?#\\"); i >= 0 {
			authority = rest[:i]
		}
		if client != issuer.ClientCLI || !ok || !loopbackAuthority(authority) {
			t.Fatalf("client %q with redirect_uri %q sends the browser to %q", client, redirect, loc)
		}
	})
}
