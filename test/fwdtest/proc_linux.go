package fwdtest

import "syscall"

// sysProcAttr makes the child die with the thread that started it
// (SIGKILL), however the test or benchmark ends, so that no server outlives
// it holding ports.
func sysProcAttr(o ProcessOptions) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: o.OwnGroup, Pdeathsig: syscall.SIGKILL, Credential: o.Credential}
}
