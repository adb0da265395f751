package vmafmodel

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPath: the model and the file it names are written beside each other
// with the embedded content, and the licence travels with them.
func TestPath(t *testing.T) {
	p, err := Path()
	require.NoError(t, err)
	require.Equal(t, Name, filepath.Base(p))
	for _, n := range []string{Name, Name + ".model", "LICENSE"} {
		got, err := os.ReadFile(filepath.Join(filepath.Dir(p), n))
		require.NoError(t, err)
		want, err := files.ReadFile(n)
		require.NoError(t, err)
		require.Equal(t, want, got, n)
	}
	again, err := write()
	require.NoError(t, err)
	require.Equal(t, p, again)
}
