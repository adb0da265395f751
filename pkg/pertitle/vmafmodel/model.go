// Package vmafmodel ships the VMAF v0.6.1 model (Netflix/vmaf, model/, under
// the BSD-2-Clause-Patent licence in LICENSE beside it) in the format libvmaf
// 1.x reads: vmaf_v0.6.1.pkl, which names vmaf_v0.6.1.pkl.model beside it.
// libvmaf 1.x has no built-in model, and the engine's scorer (the static
// ffmpeg 4.1 that scripts/vmaf-ffmpeg.sh installs) is 1.x; embedding the
// files means any binary of the product can score VMAF wherever it runs,
// with no path to configure.
package vmafmodel

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Name is the model's file name (the .pkl; its .pkl.model sits beside it).
const Name = "vmaf_v0.6.1.pkl"

//go:embed vmaf_v0.6.1.pkl vmaf_v0.6.1.pkl.model LICENSE
var files embed.FS

var (
	once    sync.Once
	path    string
	pathErr error
)

// Path writes the model files once per process into a directory named after
// their content under the system's temporary directory (kept for the next
// process; a directory of another content never collides) and returns the
// .pkl's path.
func Path() (string, error) {
	once.Do(func() { path, pathErr = write() })
	return path, pathErr
}

func write() (string, error) {
	names := []string{Name, Name + ".model", "LICENSE"}
	h := sha256.New()
	data := make([][]byte, len(names))
	for i, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return "", fmt.Errorf("vmafmodel: %w", err)
		}
		data[i] = b
		h.Write(b)
	}
	dir := filepath.Join(os.TempDir(), "pertitle-vmaf-"+hex.EncodeToString(h.Sum(nil))[:16])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("vmafmodel: %w", err)
	}
	for i, n := range names {
		p := filepath.Join(dir, n)
		if b, err := os.ReadFile(p); err == nil && string(b) == string(data[i]) {
			continue
		}
		// Written aside and renamed: a concurrent process never reads half a file.
		tmp, err := os.CreateTemp(dir, n+".*")
		if err != nil {
			return "", fmt.Errorf("vmafmodel: %w", err)
		}
		_, werr := tmp.Write(data[i])
		cerr := tmp.Close()
		if werr != nil || cerr != nil {
			_ = os.Remove(tmp.Name())
			return "", fmt.Errorf("vmafmodel: writing %s: %v %v", n, werr, cerr)
		}
		if err := os.Rename(tmp.Name(), p); err != nil {
			_ = os.Remove(tmp.Name())
			return "", fmt.Errorf("vmafmodel: %w", err)
		}
	}
	return filepath.Join(dir, Name), nil
}
