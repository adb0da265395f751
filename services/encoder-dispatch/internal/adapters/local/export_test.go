package local

import (
	"context"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// Encoder is how the backend encodes a ladder for job (whole, chunked across
// the workers, or per shot), as the per-title and per-shot engines call it.
func (b *Backend) Encoder(job app.Job, rep app.Reporter) func(context.Context, media.EncodeRequest) (*media.Output, error) {
	return b.encoder(job, rep)
}
