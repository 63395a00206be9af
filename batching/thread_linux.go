package batching

import (
	"syscall"
	"time"
	"unsafe"
)

// clockThreadCPU is Linux's CLOCK_THREAD_CPUTIME_ID: the calling thread's
// CPU time, user and system.
const clockThreadCPU = 3

// threadCPU is the calling thread's CPU time so far. clock_gettime is read
// twice per batch; it costs the kernel less than getrusage, which gathers
// every other resource count too.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPU, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// setThreadNice sets the calling thread's niceness: on Linux each thread
// has its own, and raising it needs no privilege.
func setThreadNice(n int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), n)
}
