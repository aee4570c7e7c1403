package main

import (
	"os/exec"
	"syscall"
)

// maxRSSKB is the peak RSS of a finished command, in kB.
func maxRSSKB(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}
