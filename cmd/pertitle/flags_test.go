package main

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		args  []string
		pos   []string
		wait  bool
		title string
	}{
		{[]string{"clip.mp4", "--wait"}, []string{"clip.mp4"}, true, ""},
		{[]string{"--wait", "clip.mp4", "--title", "T"}, []string{"clip.mp4"}, true, "T"},
		{[]string{"--title=My Clip", "a.mp4", "b.mp4"}, []string{"a.mp4", "b.mp4"}, false, "My Clip"},
		{nil, nil, false, ""},
	}
	for _, tc := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		wait := fs.Bool("wait", false, "")
		title := fs.String("title", "", "")
		pos, err := parseInterspersed(fs, tc.args)
		require.NoError(t, err)
		assert.Equal(t, tc.pos, pos)
		assert.Equal(t, tc.wait, *wait)
		assert.Equal(t, tc.title, *title)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_, err := parseInterspersed(fs, []string{"x", "--nope"})
	assert.Error(t, err)
}
