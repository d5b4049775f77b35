//go:build !unix

package main

import (
	"os"
	"time"
)

// childUsage and selfCPU read getrusage's figures, which only Unix has:
// elsewhere CPU time and peak RSS measure as zero.
func childUsage(*os.ProcessState) (cpu time.Duration, maxRSS int64) { return 0, 0 }

func selfCPU() time.Duration { return 0 }
