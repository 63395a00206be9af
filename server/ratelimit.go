package server

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/sluice-serving/sluice/tensor"
)

// limit is one token bucket with the words a refusal names it by.
type limit struct {
	what string // `api key "team-a"` or `model "resnet"`
	rate float64
	lim  *rate.Limiter
}

func newLimit(what string, l RateLimit) *limit {
	burst := l.Burst
	if burst == 0 {
		burst = max(1, int(math.Ceil(l.Rate)))
	}
	return &limit{what: what, rate: l.Rate, lim: rate.NewLimiter(rate.Limit(l.Rate), burst)}
}

// take spends a token at now, or refuses with how long until one is due;
// a refused reservation is given back so it never delays later calls.
func (l *limit) take(now time.Time) (*rate.Reservation, error) {
	r := l.lim.ReserveN(now, 1)
	if !r.OK() {
		return nil, tensor.WithKind(tensor.ResourceExhausted, &rateLimited{what: l.what, rate: l.rate, wait: time.Hour})
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, tensor.WithKind(tensor.ResourceExhausted, &rateLimited{what: l.what, rate: l.rate, wait: d})
	}
	return r, nil
}

// rateLimited is a 429: which limit was reached and when to come back.
type rateLimited struct {
	what string
	rate float64
	wait time.Duration
}

func (e *rateLimited) Error() string {
	return fmt.Sprintf("rate limit reached for %s: %s calls/s; retry after %ss", e.what, strconv.FormatFloat(e.rate, 'g', -1, 64), e.retryAfter())
}

// retryAfter is the wait in whole seconds, rounded up and at least 1, as
// Retry-After wants.
func (e *rateLimited) retryAfter() string {
	return strconv.Itoa(max(1, int(math.Ceil(e.wait.Seconds()))))
}

// access is what inference calls must pass: an API key when keys are
// configured, that key's rate, and the model's rate.
type access struct {
	keys   *keyring          // nil: inference is open
	models map[string]*limit // per model name; absent: no limit
}

func newAccess(c Config) (*access, error) {
	keys, err := loadKeys(c)
	if err != nil {
		return nil, err
	}
	a := &access{keys: keys, models: map[string]*limit{}}
	for name, l := range c.ModelRateLimits {
		if err := l.validate(); err != nil {
			return nil, fmt.Errorf("server.model_rate_limits.%s: %w", name, err)
		}
		a.models[name] = newLimit(fmt.Sprintf("model %q", name), l)
	}
	return a, nil
}

// guards reports whether any key or model limit applies; a nil access (a
// Server built without New) guards nothing.
func (a *access) guards() bool { return a != nil && (a.keys != nil || len(a.models) > 0) }

// admit decides one inference call to model at now. A call the model's
// limit refuses gives the key's token back: it was not served.
func (a *access) admit(presented []byte, model string, now time.Time) error {
	var spent *rate.Reservation
	if a.keys != nil {
		k, err := a.keys.authenticate(presented)
		if err != nil {
			return err
		}
		if err := k.mayCall(model); err != nil {
			return err
		}
		if k.limit != nil {
			if spent, err = k.limit.take(now); err != nil {
				return err
			}
		}
	}
	if l := a.models[model]; l != nil {
		if _, err := l.take(now); err != nil {
			if spent != nil {
				spent.CancelAt(now)
			}
			return err
		}
	}
	return nil
}
