//go:build !linux

package upstream

import "os/exec"

// setProcAttrs does nothing outside Linux.
func setProcAttrs(*exec.Cmd) {}

// killGroup kills the child.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
