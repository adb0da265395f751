// Command encoder-dispatch plans encodings for uploaded assets and runs them on an
// encoder backend: the local ffmpeg engine or Bitmovin.
package main

import (
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/service"
)

func main() { svc.Main("encoder-dispatch", service.Run) }
