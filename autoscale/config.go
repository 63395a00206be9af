package autoscale

import (
	"fmt"
	"time"
)

// Config is the recommender's configuration, per model.
type Config struct {
	// TargetUtilization is the share of a replica's measured capacity each
	// replica should carry (Knative's target utilisation).
	TargetUtilization float64 `koanf:"target_utilization"`
	// TargetConcurrency, when above 0, is the target per replica in calls
	// in flight, instead of a share of the measured capacity.
	TargetConcurrency float64 `koanf:"target_concurrency"`
	// StableWindow and PanicWindow are the averaging windows.
	StableWindow time.Duration `koanf:"stable_window"`
	PanicWindow  time.Duration `koanf:"panic_window"`
	// PanicThreshold is the multiple of the target, over the panic window,
	// that starts panic mode.
	PanicThreshold float64 `koanf:"panic_threshold"`
	// MaxScaleUpRate bounds growth: at most this many times the ready
	// replicas per decision. MaxScaleDownRate bounds shrinking likewise.
	MaxScaleUpRate   float64 `koanf:"max_scale_up_rate"`
	MaxScaleDownRate float64 `koanf:"max_scale_down_rate"`
	MinReplicas      int     `koanf:"min_replicas"`
	MaxReplicas      int     `koanf:"max_replicas"`
	// ScaleToZeroGrace is how long a model must see no calls before zero
	// replicas is recommended (with MinReplicas 0).
	ScaleToZeroGrace time.Duration `koanf:"scale_to_zero_grace"`
	// Replicas is how many replicas share the load now; this replica's
	// load stands for each (set it from the Deployment for a fixed fleet).
	Replicas int `koanf:"replicas"`
	// Interval is how often the serving process samples and decides.
	Interval time.Duration `koanf:"interval"`
}

// DefaultConfig is Knative's KPA defaults, with scale to zero allowed.
func DefaultConfig() Config {
	return Config{
		TargetUtilization: 0.7, StableWindow: 60 * time.Second, PanicWindow: 6 * time.Second, PanicThreshold: 2,
		MaxScaleUpRate: 1000, MaxScaleDownRate: 2, MinReplicas: 0, MaxReplicas: 100, ScaleToZeroGrace: 30 * time.Second,
		Replicas: 1, Interval: time.Second,
	}
}

// Validate names the key that is wrong.
func (c Config) Validate() error {
	switch {
	case c.TargetUtilization <= 0 || c.TargetUtilization > 1:
		return fmt.Errorf("autoscale.target_utilization: %v, expected (0, 1]", c.TargetUtilization)
	case c.TargetConcurrency < 0:
		return fmt.Errorf("autoscale.target_concurrency: %v, expected 0 (use the measured capacity) or more", c.TargetConcurrency)
	case c.StableWindow <= 0 || c.PanicWindow <= 0 || c.PanicWindow > c.StableWindow:
		return fmt.Errorf("autoscale.panic_window %v and stable_window %v: expected 0 < panic <= stable", c.PanicWindow, c.StableWindow)
	case c.PanicThreshold <= 1:
		return fmt.Errorf("autoscale.panic_threshold: %v, expected above 1", c.PanicThreshold)
	case c.MaxScaleUpRate <= 1 || c.MaxScaleDownRate <= 1:
		return fmt.Errorf("autoscale.max_scale_up_rate %v and max_scale_down_rate %v: expected above 1", c.MaxScaleUpRate, c.MaxScaleDownRate)
	case c.MinReplicas < 0 || c.MaxReplicas < max(c.MinReplicas, 1):
		return fmt.Errorf("autoscale.min_replicas %d and max_replicas %d: expected 0 <= min <= max, max >= 1", c.MinReplicas, c.MaxReplicas)
	case c.ScaleToZeroGrace < 0:
		return fmt.Errorf("autoscale.scale_to_zero_grace: %v, expected 0 or more", c.ScaleToZeroGrace)
	case c.Replicas < 1:
		return fmt.Errorf("autoscale.replicas: %d, expected at least 1", c.Replicas)
	case c.Interval <= 0:
		return fmt.Errorf("autoscale.interval: %v, expected a positive duration", c.Interval)
	}
	return nil
}
