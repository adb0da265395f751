//go:build !linux

package media

import "os/exec"

// BindToParent is a no-op where the kernel offers no parent-death signal; there,
// containers or process supervisors must reap orphaned encoders.
func BindToParent(cmd *exec.Cmd) {}
