package pertitle

import (
	"os"
	"path/filepath"
)

// ScorerDir is where scripts/vmaf-ffmpeg.sh (run by scripts/deps.sh, so by
// make run and make test) installs the VMAF-capable ffmpeg, relative to the
// directory of the product's binaries (bin/).
const ScorerDir = "vmaf-ffmpeg"

// FindScorer returns the VMAF-capable ffmpeg installed beside the running
// binary (bin/vmaf-ffmpeg/ffmpeg next to bin/pertitle and the services) or
// under bin/ of the working directory (go run from the repository), and ""
// when there is none. Services and the CLI take it as the default of their
// scorer setting; the engine itself only takes Options.Scorer.
func FindScorer() string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, filepath.Join(wd, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, ScorerDir, "ffmpeg")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}
