//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft open-file limit to the hard one (the Go
// runtime already does so at start on most systems) and checks that it
// allows need descriptors.
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	if lim.Max < uint64(need) {
		return fmt.Errorf("open-file hard limit is %d, below the %d this run needs (--leaves + 100); raise it (ulimit -Hn, or LimitNOFILE) or log in fewer leaves", lim.Max, need)
	}
	return nil
}
