// Command issuer is a small local OpenID Connect provider: sign-in for the
// users of a JSON file, tokens for the web app and the CLI. Production points
// the services at Cognito, Keycloak or Auth0 instead.
package main

import (
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/issuer/internal/service"
)

func main() { svc.Main("issuer", service.Run) }
