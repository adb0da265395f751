package media

import (
	"strings"
	"testing"
)

// A presigned URL given to ffprobe keeps its path in the span, not its signature.
func TestRedactURLs(t *testing.T) {
	got := redactURLs([]string{"-i", "https://bucket.s3.amazonaws.com/sources/a/source.mp4?X-Amz-Signature=abc&X-Amz-Credential=AKIA", "out.mp4", "-vf", "scale=640:360"})
	if strings.Contains(strings.Join(got, " "), "AKIA") || strings.Contains(strings.Join(got, " "), "abc") {
		t.Fatalf("signature kept: %v", got)
	}
	if got[1] != "https://bucket.s3.amazonaws.com/sources/a/source.mp4?REDACTED" || got[2] != "out.mp4" || got[4] != "scale=640:360" {
		t.Fatalf("unexpected: %v", got)
	}
}
