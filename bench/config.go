package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// Load modes.
const (
	Open   = "open"   // a fixed arrival rate, whatever the server does
	Closed = "closed" // a fixed number of callers, each waiting for its answer
)

// Transport is the client a measurement drives: it prepares the call once,
// makes a caller per worker, and reads the server's statistics for the
// queue and compute split. Results come back as HTTP statuses whatever the
// protocol, so one count serves both.
type Transport interface {
	Prepare(model, version string, inputs []tensor.Tensor, opt client.Options) (*client.Prepared, error)
	NewCaller(p *client.Prepared) *client.Caller
	Stats(ctx context.Context, model string) ([]client.ModelStats, error)
}

// Both of the client package's transports, HTTP and gRPC.
var (
	_ Transport = (*client.Client)(nil)
	_ Transport = (*client.GRPC)(nil)
)

// idleCloser is a transport whose connections can be closed when its load
// ends, so what the server holds for them is let go.
type idleCloser interface{ CloseIdle() }

func closeIdle(t Transport) {
	if c, ok := t.(idleCloser); ok {
		c.CloseIdle()
	}
}

// Config is one measurement.
type Config struct {
	Client  Transport // *client.Client (HTTP) or *client.GRPC
	Model   string
	Version string
	Inputs  []tensor.Tensor
	Options client.Options
	// RoutingKeys > 0 cycles calls through that many Sluice-Routing-Keys.
	RoutingKeys int

	Mode        string
	Rate        float64 // open: calls per second
	Poisson     bool    // open: exponential gaps instead of constant ones
	Concurrency int     // closed: callers; open: most calls in flight
	Warmup      time.Duration
	Window      time.Duration
	MinWindows  int           // windows measured at least
	MaxWindows  int           // the cap when windows never agree
	Stable      float64       // windows agree when within this fraction of their mean
	Timeout     time.Duration // per call
	Label       string
	// ServerPID, when the server runs on this machine as a process of its
	// own, has its CPU during the run read from /proc: the server's CPU per
	// call, apart from the load generator's.
	ServerPID int
}

// DefaultConfig measures an open loop at 100 calls/s.
func DefaultConfig() Config {
	return Config{Mode: Open, Rate: 100, Concurrency: 256, Warmup: 2 * time.Second, Window: 2 * time.Second,
		MinWindows: 3, MaxWindows: 10, Stable: 0.10, Timeout: 30 * time.Second}
}

// Validate names the field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Client == nil || c.Model == "":
		return fmt.Errorf("bench: a client and a model are needed")
	case c.Mode != Open && c.Mode != Closed:
		return fmt.Errorf("mode: %q, expected open or closed", c.Mode)
	case c.Mode == Open && c.Rate <= 0:
		return fmt.Errorf("rate: %v, expected calls per second above 0", c.Rate)
	case c.Concurrency < 1:
		return fmt.Errorf("concurrency: %d, expected at least 1", c.Concurrency)
	case c.Window <= 0 || c.MinWindows < 1 || c.MaxWindows < c.MinWindows:
		return fmt.Errorf("window %v, min %d, max %d: expected a positive window and 1 <= min <= max", c.Window, c.MinWindows, c.MaxWindows)
	}
	return nil
}
