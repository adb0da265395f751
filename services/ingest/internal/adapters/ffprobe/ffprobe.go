// Package ffprobe validates staged uploads with the ffprobe and ffmpeg binaries.
package ffprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// Prober tells whether a file is a video pertitle accepts: its first bytes
// are those of a video container, ffprobe opens it with a demuxer of
// media.SourceFormats, what it claims is within Limits, and a stretch at its
// start and at its end decodes.
type Prober struct {
	FFprobe, FFmpeg string
	Limits          media.Limits
}

// Probe implements app.Prober.
func (f Prober) Probe(ctx context.Context, path string) (*media.Source, error) {
	src, err := f.probe(ctx, path)
	var inv *media.InvalidSourceError
	if errors.As(err, &inv) {
		// The staging path means nothing to the client and says too much about the server.
		return nil, &media.InvalidSourceError{Reason: strings.ReplaceAll(inv.Reason, path+": ", "")}
	}
	return src, err
}

func (f Prober) probe(ctx context.Context, path string) (*media.Source, error) {
	if err := sniff(path); err != nil {
		return nil, err
	}
	src, err := media.Probe(ctx, f.FFprobe, path)
	if err != nil {
		return nil, err
	}
	if err := f.Limits.Check(src); err != nil {
		return nil, err
	}
	if err := media.Validate(ctx, f.FFmpeg, path, src); err != nil {
		return nil, err
	}
	return src, nil
}

// sniff refuses, before any tool reads it, a file whose first bytes are not
// those of a video container.
func sniff(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: cannot read staged upload: %w", app.ErrUnavailable, err)
	}
	defer fh.Close()
	head := make([]byte, 1024)
	n, err := io.ReadFull(fh, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: cannot read staged upload: %w", app.ErrUnavailable, err)
	}
	if n == 0 {
		return &media.InvalidSourceError{Reason: "file is empty (0 bytes)"}
	}
	if !app.LooksLikeVideo(head[:n]) {
		return &media.InvalidSourceError{Reason: "the file does not start like a video container (" + app.ContainerList + ")"}
	}
	return nil
}
