package client

import (
	"context"

	"github.com/valyala/fasthttp"
)

// Sluice's rollout admin API (/v2/admin/models/{m}/rollout), with Token as
// the admin bearer token when the server has one.

// Traffic is a model's traffic policy: the canary's share of unversioned
// calls, in percent.
type Traffic struct {
	Stable int64   `json:"stable,omitempty"`
	Canary int64   `json:"canary,omitempty"`
	Weight float64 `json:"canary_weight,omitempty"`
}

// Rollout is what the admin API tells of a model's rollout.
type Rollout struct {
	Model   string  `json:"model"`
	State   string  `json:"state"`
	Stable  int64   `json:"stable"`
	Canary  int64   `json:"canary"`
	Step    int     `json:"step"`
	Weight  float64 `json:"weight"`
	Reason  string  `json:"reason,omitempty"`
	Traffic Traffic `json:"traffic"`
}

func rolloutPath(model string) string { return "/v2/admin/models/" + model + "/rollout" }

// RolloutStatus reads a model's rollout and traffic policy.
func (c *Client) RolloutStatus(ctx context.Context, model string) (*Rollout, error) {
	var r Rollout
	return &r, c.do(ctx, fasthttp.MethodGet, rolloutPath(model), nil, &r)
}

// StartRollout starts a rollout of canary with the model's own rollout
// settings.
func (c *Client) StartRollout(ctx context.Context, model string, canary int64) error {
	return c.do(ctx, fasthttp.MethodPost, rolloutPath(model), map[string]int64{"canary": canary}, nil)
}

// RolloutAction sends promote, pause, resume or abort.
func (c *Client) RolloutAction(ctx context.Context, model, action string) error {
	return c.do(ctx, fasthttp.MethodPost, rolloutPath(model)+"/"+action, nil, nil)
}
