package coordination

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/tensor"
)

// Controller is what the coordinator needs of the rollout controller.
type Controller interface {
	Apply(ctx context.Context, name string, s rollout.Saved) error
	Measurements() map[string]rollout.WindowSet
	TakeOver(ctx context.Context)
	Status(name string) (rollout.Status, registry.Traffic, error)
}

var _ Controller = (*rollout.Controller)(nil)

// Models is what a replica's published view is made of.
type Models interface {
	Names() []string
	Versions(name string) ([]*registry.Version, error)
	Ready() bool
}

// Member is one replica's view, as it publishes it under its lease.
type Member struct {
	Replica  string                      `json:"replica"`
	Leader   bool                        `json:"leader"`
	Ready    bool                        `json:"ready"`    // what its readiness probe answers: every model has a ready version
	Versions map[string][]int64          `json:"versions"` // serving (ready) versions, by model
	Traffic  map[string]registry.Traffic `json:"traffic"`
	Rollouts map[string]RolloutView      `json:"rollouts,omitempty"`
	Updated  time.Time                   `json:"updated"`
}

// RolloutView is a replica's live rollout of one model, as it applies it.
type RolloutView struct {
	State  string  `json:"state"`
	Canary int64   `json:"canary"`
	Step   int     `json:"step"`
	Weight float64 `json:"weight"`
}

// Coordinator is this replica's membership of the fleet; it is the
// rollout controller's Fleet and the drift monitor's.
type Coordinator struct {
	cfg    Config
	name   string
	cli    *clientv3.Client
	ctl    Controller
	models Models
	log    *slog.Logger

	leading   atomic.Bool // this replica won the election and its session lives
	connected atomic.Bool // the last publish reached etcd

	// mu guards what the watch saw: rev, members, windows, driftWins and
	// triggers.
	mu        sync.Mutex
	rev       map[string]int64
	members   map[string]Member
	windows   map[string]map[string]rollout.WindowSet // model → replica → windows
	driftWins map[string]map[string]drift.WindowSet   // "model/version" → replica → window set
	triggers  map[string]triggerRecord                // model → its drift-triggers key

	driftSrc DriftSource // set by WithDrift before Run; nil publishes no drift windows
	// published is what the last publish that landed stored of driftSrc:
	// "model/version" → JSON, under publishedLease; badDriftKeys are the
	// malformed keys already logged. Only the publish loop touches them.
	published      map[string]string
	publishedLease clientv3.LeaseID
	badDriftKeys   map[string]bool

	sessMu sync.Mutex // guards sess, the lease this replica's keys live under
	sess   *concurrency.Session

	metrics *metrics
}

var _ rollout.Fleet = (*Coordinator)(nil)

// New connects to etcd (lazily: an unreachable etcd is not an error
// here) as replica cfg.Replica; Run takes part in the fleet.
func New(cfg Config, models Models, ctl Controller, log *slog.Logger, reg prometheus.Registerer) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	name, err := cfg.replica()
	if err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout, TLS: tc,
		Username: cfg.Username, Password: cfg.Password,
		DialKeepAliveTime: time.Second, DialKeepAliveTimeout: cfg.DialTimeout,
		Logger: zap.NewNop(),
		// gRPC's default reconnect backoff grows to two minutes: after a
		// long outage a replica would stay disconnected that long after
		// etcd returned.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: cfg.DialTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("coordination.endpoints: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		cli.Close()
		return nil, err
	}
	return &Coordinator{cfg: cfg, name: name, cli: cli, ctl: ctl, models: models, log: log.With("replica", name),
		rev: map[string]int64{}, members: map[string]Member{}, windows: map[string]map[string]rollout.WindowSet{},
		driftWins: map[string]map[string]drift.WindowSet{}, triggers: map[string]triggerRecord{},
		published: map[string]string{}, badDriftKeys: map[string]bool{}, metrics: m}, nil
}

// Name is this replica's name in the fleet.
func (c *Coordinator) Name() string { return c.name }

// Close closes the etcd client; call it after Run has returned.
func (c *Coordinator) Close() error { return c.cli.Close() }

// Run takes part in the fleet until ctx ends: it watches and applies the
// stored state, campaigns for leadership, and publishes this replica's
// view and measurements. It returns once its goroutines have ended.
func (c *Coordinator) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for name, loop := range map[string]func(context.Context){"watch": c.watchLoop, "election": c.electionLoop, "publish": c.publishLoop} {
		wg.Go(func() {
			for ctx.Err() == nil {
				if !c.guard(name, func() { loop(ctx) }) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// guard runs one of Run's loops, turning a panic into a log line and a
// restart of that loop (true); false once the loop ended normally.
func (c *Coordinator) guard(name string, loop func()) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("coordination loop panicked; restarting it", "loop", name, "panic", v, "stack", string(debug.Stack()))
			panicked = true
		}
	}()
	loop()
	return false
}

func (c *Coordinator) key(parts ...string) string {
	return c.cfg.Prefix + "/" + strings.Join(parts, "/")
}

// wait sleeps d unless ctx ends first; false when it did.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watchLoop reads everything under the prefix, applies it, and watches
// from there; a broken watch (etcd lost its leader, a compaction) reads
// everything again.
func (c *Coordinator) watchLoop(ctx context.Context) {
	for ctx.Err() == nil {
		rev, err := c.sync(ctx)
		if err != nil {
			c.log.Debug("coordination: reading the fleet's state", "err", err)
			wait(ctx, c.cfg.PublishInterval)
			continue
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range c.cli.Watch(wctx, c.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				c.event(ctx, ev.Type == clientv3.EventTypeDelete, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
			}
		}
		cancel()
	}
}

// sync reads every key under the prefix and applies it; it returns the
// store's revision at the read.
func (c *Coordinator) sync(ctx context.Context) (int64, error) {
	gctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	resp, err := c.cli.Get(gctx, c.cfg.Prefix+"/", clientv3.WithPrefix())
	cancel()
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.members, c.windows = map[string]Member{}, map[string]map[string]rollout.WindowSet{}
	c.resetDrift(resp.Header.Revision)
	c.mu.Unlock()
	for _, kv := range resp.Kvs {
		c.event(ctx, false, kv.Key, kv.Value, kv.ModRevision)
	}
	c.countMembers()
	return resp.Header.Revision, nil
}

// event applies one key's change.
func (c *Coordinator) event(ctx context.Context, deleted bool, key, value []byte, modRev int64) {
	parts := strings.Split(strings.TrimPrefix(string(key), c.cfg.Prefix+"/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "models" && !deleted:
		c.applyModel(ctx, parts[1], value, modRev)
	case len(parts) == 2 && parts[0] == "members":
		c.mu.Lock()
		if deleted {
			delete(c.members, parts[1])
		} else {
			var m Member
			if json.Unmarshal(value, &m) == nil {
				c.members[parts[1]] = m
			}
		}
		c.mu.Unlock()
		c.countMembers()
	case len(parts) == 3 && parts[0] == "windows":
		model, replica := parts[1], parts[2]
		c.mu.Lock()
		if deleted {
			delete(c.windows[model], replica)
		} else {
			var w rollout.WindowSet
			if json.Unmarshal(value, &w) == nil {
				if c.windows[model] == nil {
					c.windows[model] = map[string]rollout.WindowSet{}
				}
				c.windows[model][replica] = w
			}
		}
		c.mu.Unlock()
	case len(parts) == 4 && parts[0] == "drift":
		c.driftEvent(parts[1]+"/"+parts[2], parts[3], deleted, value)
	case len(parts) == 2 && parts[0] == "drift-triggers":
		c.triggerEvent(parts[1], deleted, value, modRev)
	}
}

// applyModel hands a model's stored state to the controller, once per
// revision: this replica's own writes were applied as they were made.
func (c *Coordinator) applyModel(ctx context.Context, name string, value []byte, modRev int64) {
	var s rollout.Saved
	if err := json.Unmarshal(value, &s); err != nil {
		c.log.Error("coordination: a model's stored state is not rollout state", "model", name, "err", err)
		return
	}
	c.mu.Lock()
	if modRev <= c.rev[name] {
		c.mu.Unlock()
		return
	}
	c.rev[name] = modRev
	c.mu.Unlock()
	if err := c.ctl.Apply(ctx, name, s); err != nil {
		c.log.Warn("coordination: applying the fleet's state", "model", name, "err", err)
	}
}

// electionLoop keeps a session (the lease this replica's keys live under)
// and campaigns with it; while it leads it runs the analyses (the rollout
// controller asks Leading), until its session ends.
func (c *Coordinator) electionLoop(ctx context.Context) {
	ttl := int64(c.cfg.LeaseTTL / time.Second)
	for ctx.Err() == nil {
		gctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		lease, err := c.cli.Grant(gctx, ttl)
		cancel()
		if err != nil {
			c.setConnected(false)
			wait(ctx, c.cfg.PublishInterval)
			continue
		}
		sess, err := concurrency.NewSession(c.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(ttl)), concurrency.WithContext(ctx))
		if err != nil {
			wait(ctx, c.cfg.PublishInterval)
			continue
		}
		c.setSession(sess)
		c.campaign(ctx, sess)
		c.setSession(nil)
		cctx, cancel := context.WithTimeout(context.Background(), c.cfg.DialTimeout)
		_, _ = c.cli.Revoke(cctx, sess.Lease()) // gone at once rather than at its TTL; fails harmlessly when etcd is away
		cancel()
		sess.Orphan()
	}
}

// campaign waits to lead, leads while the session lives, and gives the
// leadership back when ctx ends.
func (c *Coordinator) campaign(ctx context.Context, sess *concurrency.Session) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends with cctx: the session expired, or campaign returned
		select {
		case <-sess.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	el := concurrency.NewElection(sess, c.key("election"))
	if err := el.Campaign(cctx, c.name); err != nil {
		return
	}
	c.leading.Store(true)
	c.metrics.leader.Set(1)
	c.log.Info("coordination: leading the fleet's rollouts")
	c.ctl.TakeOver(cctx)
	<-cctx.Done()
	c.leading.Store(false)
	c.metrics.leader.Set(0)
	c.log.Info("coordination: no longer leading")
	rctx, rcancel := context.WithTimeout(context.Background(), c.cfg.DialTimeout)
	_ = el.Resign(rctx)
	rcancel()
}

func (c *Coordinator) setSession(s *concurrency.Session) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	c.sess = s
}

func (c *Coordinator) session() *concurrency.Session {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	return c.sess
}

func (c *Coordinator) setConnected(ok bool) {
	if c.connected.Swap(ok) != ok {
		if ok {
			c.log.Info("coordination: etcd reachable")
		} else {
			c.log.Warn("coordination: etcd unreachable; serving with the last state applied, rollouts paused")
		}
	}
	if ok {
		c.metrics.connected.Set(1)
	} else {
		c.metrics.connected.Set(0)
	}
}

// publishLoop publishes this replica's view and measurements under its
// lease every interval; whether that lands is what "connected" means.
func (c *Coordinator) publishLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.PublishInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sess := c.session()
		if sess == nil {
			c.setConnected(false)
			continue
		}
		c.setConnected(c.publish(ctx, sess.Lease()) == nil)
	}
}

func (c *Coordinator) publish(ctx context.Context, lease clientv3.LeaseID) error {
	view := c.view()
	b, err := json.Marshal(view)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(c.key("members", c.name), string(b), clientv3.WithLease(lease))}
	for model, w := range c.ctl.Measurements() {
		wb, err := json.Marshal(w)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(c.key("windows", model, c.name), string(wb), clientv3.WithLease(lease)))
	}
	dops, next, err := c.driftOps(lease)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	if err := c.commit(pctx, append(ops, dops...)); err != nil {
		return err
	}
	c.published, c.publishedLease = next, lease
	return nil
}

// view is this replica's Member record now.
func (c *Coordinator) view() Member {
	m := Member{Replica: c.name, Leader: c.leading.Load(), Ready: c.models.Ready(), Versions: map[string][]int64{}, Traffic: map[string]registry.Traffic{},
		Rollouts: map[string]RolloutView{}, Updated: time.Now().UTC()}
	for _, name := range c.models.Names() {
		vs, err := c.models.Versions(name)
		if err != nil {
			continue
		}
		nums := make([]int64, 0, len(vs))
		for _, v := range vs {
			nums = append(nums, v.Number())
		}
		m.Versions[name] = nums
		st, t, err := c.ctl.Status(name)
		if err != nil {
			continue
		}
		m.Traffic[name] = t
		if st.State == rollout.Progressing || st.State == rollout.Paused {
			m.Rollouts[name] = RolloutView{State: st.State, Canary: st.Canary, Step: st.Step, Weight: st.Weight}
		}
	}
	return m
}

func (c *Coordinator) countMembers() {
	c.mu.Lock()
	n := len(c.members)
	c.mu.Unlock()
	c.metrics.members.Set(float64(n))
}

// Leading reports whether this replica runs the fleet's analyses.
func (c *Coordinator) Leading() bool { return c.leading.Load() }

// Connected reports whether the last publish reached etcd.
func (c *Coordinator) Connected() bool { return c.connected.Load() }

// Write stores a model's state if it is still the one this replica last
// applied (a compare-and-swap on the key's revision), so a replica that
// has not seen another's change cannot undo it.
func (c *Coordinator) Write(ctx context.Context, name string, s rollout.Saved) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	key := c.key("models", name)
	c.mu.Lock()
	rev := c.rev[name]
	c.mu.Unlock()
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return tensor.Errorf(tensor.Unavailable, "model %q: its rollout state changed on another replica meanwhile; try again", name)
	}
	c.mu.Lock()
	c.rev[name] = max(c.rev[name], resp.Header.Revision)
	c.mu.Unlock()
	return nil
}

// Windows are the other replicas' measurements of a model's rollout in
// epoch.
func (c *Coordinator) Windows(name, epoch string) []rollout.WindowSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []rollout.WindowSet
	for replica, w := range c.windows[name] {
		if replica != c.name && w.Epoch == epoch {
			out = append(out, w)
		}
	}
	return out
}

// NotReady names the live replicas that do not serve version v of the
// model.
func (c *Coordinator) NotReady(name string, v int64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for replica, m := range c.members {
		if !slices.Contains(m.Versions[name], v) {
			out = append(out, replica)
		}
	}
	slices.Sort(out)
	return out
}

// Members are every live replica's view, by name, and which one leads.
func (c *Coordinator) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Member, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Replica, b.Replica) })
	return out
}

// Replicas is Members for the admin API.
func (c *Coordinator) Replicas() any { return c.Members() }
