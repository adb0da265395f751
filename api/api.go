// Package api holds the OpenAPI 3.1 document of the ingest and catalog APIs
// (openapi.yaml), which both services serve at GET /openapi.yaml.
package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// Document is api/openapi.yaml.
//
//go:embed openapi.yaml
var Document []byte

// Path is where the services serve the document.
const Path = "/openapi.yaml"

// Handler serves the document.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Content-Length", strconv.Itoa(len(Document)))
		_, _ = w.Write(Document)
	})
}
