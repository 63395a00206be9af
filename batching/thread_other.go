//go:build !linux

package batching

import (
	"errors"
	"time"
)

// threadCPU is not measured off Linux.
func threadCPU() time.Duration { return 0 }

func setThreadNice(int) error { return errors.New("per-thread niceness is Linux's") }
