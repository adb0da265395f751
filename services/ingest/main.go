// Command ingest takes video uploads, validates them with ffprobe, stores them and
// publishes AssetUploaded.
package main

import (
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/ingest/internal/service"
)

func main() { svc.Main("ingest", service.Run) }
