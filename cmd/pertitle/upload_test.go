package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProgressLine(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "encoding:  42.5% (about 90s left)", progress{Percent: 42.5, ETASeconds: 89.6}.String())
	assert.Equal(t, "encoding:  30.0%, 3 of 10 chunks done on 2 workers (about 5s left)",
		progress{Percent: 30, ETASeconds: 5, ChunksDone: 3, Chunks: 10, Workers: 2}.String())
	assert.Equal(t, "encoding:   0.0%, 0 of 4 chunks done on 1 worker", progress{Chunks: 4, Workers: 1}.String())
}
