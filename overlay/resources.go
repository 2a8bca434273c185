package overlay

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// SpareResources reports whether this machine has CPU and memory to spare
// for serving as a supernode: at least two cores, a one-minute load average
// under half of them, and 512 MiB of memory available. Where the system
// does not say (no /proc), it judges by the core count alone. Bandwidth is
// not measured: a peer that is reachable from outside on TCP and UDP is
// taken to have enough.
func SpareResources() bool {
	cores := runtime.NumCPU()
	if cores < 2 {
		return false
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if load, err := strconv.ParseFloat(f[0], 64); err == nil && load > float64(cores)/2 {
				return false
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemAvailable:" {
				if kb, err := strconv.ParseUint(f[1], 10, 64); err == nil && kb < 512<<10 {
					return false
				}
			}
		}
	}
	return true
}
