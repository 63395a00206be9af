package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
)

const rolloutUsage = `usage: sluice rollout start|status|promote|pause|resume|abort [flags] MODEL

  start    begin a canary rollout (-canary N, or the highest version that is not stable;
           -spec FILE with a rollout spec in YAML or JSON, or the model's default)
  status   show the rollout: step, weight, checks with values and thresholds
  promote  make the canary stable now
  pause    hold the rollout at its weight
  resume   continue a paused rollout
  abort    send every call to stable and stop the rollout
`

// rolloutCmd talks to a running gateway's admin API.
func rolloutCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, rolloutUsage)
		return errors.New("rollout: no action given")
	}
	action := args[0]
	fs := flag.NewFlagSet("sluice rollout "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8000", "the gateway's base URL")
	token := fs.String("token", envValue(environ, "SLUICE_SERVER_ADMIN_TOKEN"), "admin bearer token (default $SLUICE_SERVER_ADMIN_TOKEN)")
	canary := fs.Int64("canary", 0, "start: the version to roll out")
	specFile := fs.String("spec", "", "start: a rollout spec file (YAML or JSON)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, rolloutUsage)
		return errors.New("rollout: give exactly one model name")
	}
	model := fs.Arg(0)
	c := adminClient{base: strings.TrimRight(*url, "/") + "/v2/admin/models/" + model, token: *token}
	var view rolloutView
	var err error
	switch action {
	case "status":
		err = c.do(ctx, "GET", "/rollout", nil, &view)
	case "start":
		var body []byte
		if body, err = startBody(*canary, *specFile); err == nil {
			err = c.do(ctx, "POST", "/rollout", body, &view)
		}
	case "promote", "pause", "resume", "abort":
		err = c.do(ctx, "POST", "/rollout/"+action, nil, &view)
	default:
		fmt.Fprint(stderr, rolloutUsage)
		return fmt.Errorf("rollout: unknown action %q", action)
	}
	if err != nil {
		return err
	}
	printRollout(stdout, model, view)
	return nil
}

func envValue(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// rolloutView mirrors the admin API's answer.
type rolloutView struct {
	rollout.Status
	Traffic  registry.Traffic `json:"traffic"`
	Replicas []replicaView    `json:"replicas"`
}

// replicaView is one replica's view of the fleet (coordination.Member),
// what rollout status shows of each.
type replicaView struct {
	Replica  string                      `json:"replica"`
	Leader   bool                        `json:"leader"`
	Ready    bool                        `json:"ready"`
	Versions map[string][]int64          `json:"versions"`
	Traffic  map[string]registry.Traffic `json:"traffic"`
	Rollouts map[string]struct {
		State  string  `json:"state"`
		Step   int     `json:"step"`
		Weight float64 `json:"weight"`
	} `json:"rollouts"`
	Updated time.Time `json:"updated"`
}

func startBody(canary int64, specFile string) ([]byte, error) {
	req := map[string]any{"canary": canary}
	if specFile != "" {
		raw, err := os.ReadFile(specFile)
		if err != nil {
			return nil, err
		}
		spec, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("-spec %s: %w", specFile, err)
		}
		req["spec"] = json.RawMessage(spec) // the gateway lays it over the model's default
	}
	return json.Marshal(req)
}

type adminClient struct {
	base, token string
}

func (c adminClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// printRollout writes the status a person reads: versions, state, step and
// weight, then each check with its value and threshold.
func printRollout(w io.Writer, model string, v rolloutView) {
	defer printReplicas(w, model, v.Replicas)
	if v.State == "" {
		fmt.Fprintf(w, "model %s: no rollout; unversioned calls go to %s\n", model, trafficLine(v.Traffic))
		return
	}
	fmt.Fprintf(w, "model %s: rollout of version %d over stable %d: %s\n", model, v.Canary, v.Stable, strings.ToUpper(v.State))
	fmt.Fprintf(w, "step %d of %d, canary weight %g%% (steps %v)\n", v.Step+1, len(v.Spec.Steps), v.Weight, v.Spec.Steps)
	if v.State == rollout.Progressing || v.State == rollout.Paused {
		fmt.Fprintf(w, "this step: %d canary calls of %d needed, running %v of %v, failed analyses %d of %d\n",
			v.StepCalls, v.Spec.MinStepCalls, time.Since(v.StepStarted).Round(time.Second), time.Duration(v.Spec.MinStepDuration), v.Failures, v.Spec.FailureLimit)
	}
	if v.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", v.Reason)
	}
	fmt.Fprintf(w, "traffic: %s\n", trafficLine(v.Traffic))
	if len(v.Checks) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tVALUE\tTHRESHOLD\tRESULT\tNOTE")
	for _, c := range v.Checks {
		result := "pass"
		if !c.Pass {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%s\t%s\n", c.Name, c.Value, c.Threshold, result, c.Note)
	}
	tw.Flush()
}

// printReplicas shows, with etcd coordination, what each replica serves
// and applies for the model: the fleet's one rollout, seen from each.
func printReplicas(w io.Writer, model string, rs []replicaView) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "replicas (%d):\n", len(rs))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICA\tLEADER\tREADY\tVERSIONS\tTRAFFIC\tROLLOUT")
	for _, r := range rs {
		ro := "-"
		if x, ok := r.Rollouts[model]; ok {
			ro = fmt.Sprintf("%s, step %d, %g%%", x.State, x.Step+1, x.Weight)
		}
		lead := ""
		if r.Leader {
			lead = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\n", r.Replica, lead, r.Ready, r.Versions[model], trafficLine(r.Traffic[model]), ro)
	}
	tw.Flush()
}

func trafficLine(t registry.Traffic) string {
	switch {
	case t.Stable == 0:
		return "the highest ready version"
	case t.Canary == 0 || t.Weight == 0:
		return fmt.Sprintf("version %d (100%%)", t.Stable)
	}
	return fmt.Sprintf("version %d (%g%%), version %d (%g%%)", t.Stable, 100-t.Weight, t.Canary, t.Weight)
}
