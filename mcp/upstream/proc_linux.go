package upstream

import (
	"os/exec"
	"syscall"
)

// setProcAttrs puts the child in a process group of its own, so that
// killGroup reaches its children too, and has the kernel kill it if the
// broker dies without closing it.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the child's process group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Process.Kill()
	}
}
