package auth

import "github.com/pertitle/pertitle/pkg/svc"

// Defaults of the services' OIDC settings: the local issuer that `make run` starts.
const (
	DefaultIssuer   = "http://127.0.0.1:8084"
	DefaultAudience = "pertitle"
)

// FromEnv reads PERTITLE_OIDC_ISSUER and PERTITLE_OIDC_AUDIENCE.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.Issuer, "PERTITLE_OIDC_ISSUER", DefaultIssuer,
		"OIDC issuer URL whose tokens are accepted (its discovery document names the JWKS)")
	e.String(&c.Audience, "PERTITLE_OIDC_AUDIENCE", DefaultAudience,
		"accepted token audience (aud, or client_id of Cognito access tokens); comma-separated for several")
}
