// Command catalog projects encoding events into a queryable catalog of assets and
// serves the encoded outputs (HLS/DASH manifests and segments) to players.
package main

import (
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/catalog/internal/service"
)

func main() { svc.Main("catalog", service.Run) }
