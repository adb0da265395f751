package terraform_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// attr evaluates one attribute of a block in ctx.
func attr(t *testing.T, b *hcl.Block, name string, ctx *hcl.EvalContext) cty.Value {
	t.Helper()
	attrs, diags := b.Body.JustAttributes()
	require.False(t, diags.HasErrors(), "%s", diags)
	a, ok := attrs[name]
	require.True(t, ok, "%s.%s has no %s", b.Labels[0], b.Labels[1], name)
	v, diags := a.Expr.Value(ctx)
	require.False(t, diags.HasErrors(), "%s: %s", name, diags)
	return v
}

// urlencode is Terraform's: query escaping, with spaces as %20.
var urlencode = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "s", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(strings.ReplaceAll(url.QueryEscape(args[0].AsString()), "+", "%20")), nil
	},
})

// databaseCtx is the module's context with a database created: the
// instance as AWS would describe it and a password that needs escaping.
func databaseCtx(m *module, password string) *hcl.EvalContext {
	ctx := m.ctx(nil)
	ctx.Functions["urlencode"] = urlencode
	locals := map[string]cty.Value{}
	for k, v := range m.locals {
		locals[k] = v
	}
	locals["database"] = cty.True
	ctx.Variables["local"] = cty.ObjectVal(locals)
	ctx.Variables["aws_db_instance"] = cty.ObjectVal(map[string]cty.Value{"database": cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
		"username": cty.StringVal("pertitle"), "db_name": cty.StringVal("pertitle"), "port": cty.NumberIntVal(5432),
		"address": cty.StringVal("pertitle-database.abc.us-east-1.rds.amazonaws.com")})})})
	ctx.Variables["random_password"] = cty.ObjectVal(map[string]cty.Value{"database": cty.TupleVal([]cty.Value{
		cty.ObjectVal(map[string]cty.Value{"result": cty.StringVal(password)})})})
	return ctx
}

// TestDatabaseURLsAreWhatTheServicesRead: the database secret holds exactly
// the variables the services read for PostgreSQL (PERTITLE_CATALOG_DB in the
// catalog, PERTITLE_INGEST_DB in ingest, PERTITLE_STATE_DB in every service's
// settings), each a URL that
// pgx, which the services connect with, parses to the instance, its
// database and user and the password, escaped or not, over TLS.
func TestDatabaseURLsAreWhatTheServicesRead(t *testing.T) {
	m := load(t)
	const password = "p@ss/w:rd?#%"
	ctx := databaseCtx(m, password)
	var local hcl.Expression
	for _, b := range m.blocks.OfType("locals") {
		attrs, _ := b.Body.JustAttributes()
		if a, ok := attrs["database_url"]; ok {
			local = a.Expr
		}
	}
	require.NotNil(t, local, "local.database_url")
	u, diags := local.Value(ctx)
	require.False(t, diags.HasErrors(), "%s", diags)
	cfg, err := pgx.ParseConfig(u.AsString())
	require.NoError(t, err)
	assert.Equal(t, "pertitle-database.abc.us-east-1.rds.amazonaws.com", cfg.Host)
	assert.Equal(t, uint16(5432), cfg.Port)
	assert.Equal(t, "pertitle", cfg.Database)
	assert.Equal(t, "pertitle", cfg.User)
	assert.Equal(t, password, cfg.Password)
	assert.NotNil(t, cfg.TLSConfig, "sslmode=require: TLS to RDS")
	for _, f := range cfg.Fallbacks {
		assert.NotNil(t, f.TLSConfig, "no fallback to plain text")
	}

	locals := ctx.Variables["local"].AsValueMap()
	locals["database_url"] = u
	ctx.Variables["local"] = cty.ObjectVal(locals)
	secret := attr(t, m.block(t, "resource", "aws_secretsmanager_secret_version", "database"), "secret_string", ctx)
	keys := map[string]string{}
	for k, v := range mustJSON(t, secret.AsString()) {
		keys[k] = v
		assert.Equal(t, u.AsString(), v, k)
	}
	assert.Len(t, keys, 3)
	assert.Contains(t, keys, "PERTITLE_CATALOG_DB")
	assert.Contains(t, keys, "PERTITLE_STATE_DB")
	assert.Contains(t, keys, "PERTITLE_INGEST_DB")
	assert.True(t, codeNames(t, "../../services/catalog", "PERTITLE_CATALOG_DB"), "the catalog reads PERTITLE_CATALOG_DB")
	assert.True(t, codeNames(t, "../../services/ingest", "PERTITLE_INGEST_DB"), "ingest reads PERTITLE_INGEST_DB")
	assert.True(t, codeNames(t, "../../internal/settings", "PERTITLE_STATE_DB"), "every service's settings read PERTITLE_STATE_DB")
}

// TestDatabaseIsPrivateAndKept: the instance is PostgreSQL, encrypted, not
// public, backed up, kept from deletion and on a standby by default, and
// reachable on 5432 only from the security groups named; without subnets
// nothing of it is created.
func TestDatabaseIsPrivateAndKept(t *testing.T) {
	m := load(t)
	assert.Equal(t, cty.False, m.locals["database"], "no database_subnet_ids, no database")
	ctx := databaseCtx(m, "x")
	db := m.block(t, "resource", "aws_db_instance", "database")
	assert.Equal(t, "postgres", attr(t, db, "engine", ctx).AsString())
	assert.Equal(t, cty.True, attr(t, db, "storage_encrypted", ctx))
	assert.Equal(t, cty.False, attr(t, db, "publicly_accessible", ctx))
	assert.Equal(t, cty.True, attr(t, db, "deletion_protection", ctx))
	assert.Equal(t, cty.True, attr(t, db, "multi_az", ctx))
	assert.Equal(t, cty.False, attr(t, db, "skip_final_snapshot", ctx))
	retention, _ := attr(t, db, "backup_retention_period", ctx).AsBigFloat().Int64()
	assert.GreaterOrEqual(t, retention, int64(7))

	rule := m.block(t, "resource", "aws_vpc_security_group_ingress_rule", "database")
	attrs, _ := rule.Body.JustAttributes()
	assert.Contains(t, attrs, "referenced_security_group_id", "from security groups")
	for _, open := range []string{"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} {
		assert.NotContains(t, attrs, open, "never from addresses")
	}
	assert.Equal(t, "5432", attr(t, rule, "from_port", ctx).AsBigFloat().String())
	assert.Equal(t, "5432", attr(t, rule, "to_port", ctx).AsBigFloat().String())
}

func mustJSON(t *testing.T, s string) map[string]string {
	t.Helper()
	var out map[string]string
	require.NoError(t, json.Unmarshal([]byte(s), &out), s)
	return out
}

// codeNames reports whether the Go code (tests aside) under dir names the
// variable in a string literal.
func codeNames(t *testing.T, dir, variable string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		found = found || (err == nil && strings.Contains(string(b), `"`+variable+`"`))
		return err
	})
	require.NoError(t, err)
	return found
}
