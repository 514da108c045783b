package redistest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel stop the server if the test binary dies
// without calling Stop, for example on a test timeout.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
