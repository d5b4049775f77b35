//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing off Linux, which alone has a parent-death
// signal: a killed bench may leave the tool it measured running.
func dieWithParent(*exec.Cmd) {}
