package media

import (
	"os/exec"
	"syscall"
)

// BindToParent makes the kernel kill cmd's process when the process that started
// it dies. Without it, an encoder-dispatch killed with SIGKILL leaves its ffmpeg
// running, and the orphan keeps writing into the work directory of the job that
// the next delivery of the same request is encoding again.
func BindToParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
