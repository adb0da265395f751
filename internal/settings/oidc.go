package settings

import (
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/svc"
)

// Defaults of the services' OIDC settings: the local issuer that `make run` starts.
const (
	DefaultIssuer   = "http://127.0.0.1:8084"
	DefaultAudience = "pertitle"
)

// OIDC reads PERTITLE_OIDC_ISSUER and PERTITLE_OIDC_AUDIENCE: whose bearer
// tokens a service accepts.
func OIDC(e *svc.Env) auth.Config {
	var c auth.Config
	e.String(&c.Issuer, "PERTITLE_OIDC_ISSUER", DefaultIssuer,
		"OIDC issuer URL whose tokens are accepted (its discovery document names the JWKS)")
	e.String(&c.Audience, "PERTITLE_OIDC_AUDIENCE", DefaultAudience,
		"accepted token audience (aud, or client_id of Cognito access tokens); comma-separated for several")
	return c
}

// CheckOIDC validates OIDC settings read by OIDC.
func CheckOIDC(c auth.Config) error {
	return named("OIDC (PERTITLE_OIDC_ISSUER, PERTITLE_OIDC_AUDIENCE)", c.Validate())
}
