package main

import "syscall"

// childAttr kills children when the benchmark dies, however it dies, so that
// no sshd or fwd outlives it holding ports.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
