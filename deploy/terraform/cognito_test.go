package terraform_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"

	"github.com/pertitle/pertitle/pkg/auth"
)

// oidcSettings are the PERTITLE_OIDC_* variables that pertitle's services,
// web app configuration and CLI read (not the local issuer's own).
func oidcSettings(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`"(PERTITLE_OIDC_[A-Z_]+)"`)
	set := map[string]bool{}
	for _, dir := range []string{"../../services", "../../pkg", "../../cmd", "../../internal/settings"} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") ||
				strings.Contains(p, filepath.Join("services", "issuer")) {
				return err
			}
			b, err := os.ReadFile(p)
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				set[m[1]] = true
			}
			return err
		})
		require.NoError(t, err)
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// attr evaluates one attribute of a resource block, for the for_each key
// key ("" without for_each).
func (m *module) attr(t *testing.T, typ, name, key, attr string) cty.Value {
	t.Helper()
	attrs, _ := m.block(t, "resource", typ, name).Body.JustAttributes()
	var each map[string]cty.Value
	if key != "" {
		set, diags := attrs["for_each"].Expr.Value(m.ctx(nil))
		require.False(t, diags.HasErrors(), "%s.%s for_each: %s", typ, name, diags)
		value := cty.NilVal
		if set.Type().IsObjectType() {
			value = set.GetAttr(key)
		} else {
			value = set.Index(cty.StringVal(key))
		}
		each = map[string]cty.Value{"key": cty.StringVal(key), "value": value}
	}
	a, ok := attrs[attr]
	require.True(t, ok, "%s.%s has no %s", typ, name, attr)
	v, diags := a.Expr.Value(m.ctx(each))
	require.False(t, diags.HasErrors(), "%s.%s.%s: %s", typ, name, attr, diags)
	return v
}

func list(v cty.Value) []string {
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e.AsString())
	}
	return out
}

// The Cognito output is exactly the PERTITLE_OIDC_* settings the code reads,
// pointing at the user pool and its two app clients; the clients are public
// code-flow clients and the admin group is the one pkg/auth honours.
func TestCognitoOutputsAreTheOIDCSettings(t *testing.T) {
	m := load(t)
	var out hcl.Expression
	for _, b := range m.blocks.OfType("output") {
		if b.Labels[0] == "oidc_env" {
			attrs, _ := b.Body.JustAttributes()
			out = attrs["value"].Expr
		}
	}
	require.NotNil(t, out, "output oidc_env")
	v, diags := out.Value(m.ctx(nil))
	require.False(t, diags.HasErrors(), diags.Error())
	got := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		got[k.AsString()] = e.AsString()
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	assert.Equal(t, oidcSettings(t), keys, "oidc_env holds exactly the settings the code reads")

	pool := m.resources["aws_cognito_user_pool"]["users"]
	web := m.resources["aws_cognito_user_pool_client"]["app"].GetAttr("web").GetAttr("id").AsString()
	cli := m.resources["aws_cognito_user_pool_client"]["app"].GetAttr("cli").GetAttr("id").AsString()
	assert.Equal(t, "https://cognito-idp."+region+".amazonaws.com/"+pool.GetAttr("id").AsString(), got["PERTITLE_OIDC_ISSUER"],
		"the issuer Cognito writes in iss")
	assert.ElementsMatch(t, []string{web, cli}, strings.Split(got["PERTITLE_OIDC_AUDIENCE"], ","), "tokens of both clients are accepted")
	assert.Equal(t, web, got["PERTITLE_OIDC_WEB_CLIENT_ID"])
	assert.Equal(t, cli, got["PERTITLE_OIDC_CLIENT_ID"])
	assert.NotEqual(t, web, cli)

	assert.Equal(t, auth.AdminGroup, m.attr(t, "aws_cognito_user_group", "admin", "", "name").AsString(), "the group pkg/auth treats as admin")
	for _, c := range []string{"web", "cli"} {
		assert.False(t, m.attr(t, "aws_cognito_user_pool_client", "app", c, "generate_secret").True(), "%s: a public client has no secret", c)
		assert.True(t, m.attr(t, "aws_cognito_user_pool_client", "app", c, "allowed_oauth_flows_user_pool_client").True(), c)
		assert.Equal(t, []string{"code"}, list(m.attr(t, "aws_cognito_user_pool_client", "app", c, "allowed_oauth_flows")), "%s: authorization code (+PKCE) only", c)
		assert.Contains(t, list(m.attr(t, "aws_cognito_user_pool_client", "app", c, "allowed_oauth_scopes")), "openid", c)
	}
	assert.Equal(t, []string{"http://localhost:8080/"}, list(m.attr(t, "aws_cognito_user_pool_client", "app", "web", "callback_urls")),
		"without a catalog domain, the web app of `make run`")
	for _, u := range list(m.attr(t, "aws_cognito_user_pool_client", "app", "cli", "callback_urls")) {
		assert.Regexp(t, `^http://localhost:\d+/`, u, "the CLI redirects to a loopback listener")
	}
}

// The CLI's browser sign-in comes back to a callback Cognito lists exactly:
// its default is one of the CLI app client's callback URLs, oidc_env's
// PERTITLE_OIDC_CALLBACK is one of them too, and what the CLI and the web app
// ask of a provider without offline_access (Cognito) are scopes their app
// clients allow.
func TestCognitoListsTheCLICallback(t *testing.T) {
	m := load(t)
	src, err := os.ReadFile("../../cmd/pertitle/login.go")
	require.NoError(t, err)
	def := regexp.MustCompile(`const defaultCallback = "([^"]+)"`).FindSubmatch(src)
	require.NotNil(t, def, "cmd/pertitle/login.go declares defaultCallback")
	callbacks := list(m.attr(t, "aws_cognito_user_pool_client", "app", "cli", "callback_urls"))
	assert.Contains(t, callbacks, string(def[1]), "Cognito lists the CLI's default callback")

	var out hcl.Expression
	for _, b := range m.blocks.OfType("output") {
		if b.Labels[0] == "oidc_env" {
			attrs, _ := b.Body.JustAttributes()
			out = attrs["value"].Expr
		}
	}
	require.NotNil(t, out)
	v, diags := out.Value(m.ctx(nil))
	require.False(t, diags.HasErrors(), diags.Error())
	assert.Contains(t, callbacks, v.GetAttr("PERTITLE_OIDC_CALLBACK").AsString())

	for client, file := range map[string]string{"cli": "../../cmd/pertitle/login.go", "web": "../../web/src/auth.ts"} {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		allowed := list(m.attr(t, "aws_cognito_user_pool_client", "app", client, "allowed_oauth_scopes"))
		var asked int
		for _, s := range regexp.MustCompile(`"(openid[a-z_ ]*)"`).FindAllSubmatch(b, -1) {
			if strings.Contains(string(s[1]), "offline_access") {
				continue // asked only of providers that list it
			}
			asked++
			for _, scope := range strings.Fields(string(s[1])) {
				assert.Contains(t, allowed, scope, "%s asks Cognito for %q", file, scope)
			}
		}
		assert.Positive(t, asked, "%s asks providers without offline_access for a scope without it", file)
	}
}
