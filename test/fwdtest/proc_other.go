//go:build unix && !linux

package fwdtest

import "syscall"

// sysProcAttr: only Linux has a parent-death signal; elsewhere a child
// outlives a caller that dies without stopping it.
func sysProcAttr(o ProcessOptions) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: o.OwnGroup, Credential: o.Credential}
}
