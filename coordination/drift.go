package coordination

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/tensor"
)

// DriftSource is what the coordinator publishes of the drift monitor:
// this replica's live window set of every monitored version, keyed
// "model/version". It is called at every publish, so it must be cheap and
// must not block.
type DriftSource interface {
	DriftMeasurements() map[string]drift.WindowSet
}

var _ drift.Fleet = (*Coordinator)(nil)

// maxTxnOps is etcd's default limit on the operations of one transaction
// (--max-txn-ops); a publish with more is split so that it still lands.
const maxTxnOps = 128

// triggerRecord is a model's drift-triggers key as this replica last saw it.
type triggerRecord struct {
	t    drift.Trigger
	ok   bool  // the key holds a trigger record (absent or unreadable: false)
	rev  int64 // the key's ModRevision, 0 while it does not exist: what a compare-and-swap compares
	seen int64 // the store revision of the newest change applied, so an older one never replaces it
}

// WithDrift publishes src's window sets with this replica's view, each
// under drift/{model}/{version}/{replica}; call it before Run.
func (c *Coordinator) WithDrift(src DriftSource) *Coordinator {
	c.driftSrc = src
	return c
}

// driftKey splits a DriftSource key into model and version; false when it
// is not "model/version" with both parts present.
func driftKey(key string) (model, version string, ok bool) {
	model, version, ok = strings.Cut(key, "/")
	return model, version, ok && model != "" && version != "" && !strings.Contains(version, "/")
}

// driftOps are the puts of the window sets that changed since the last
// publish (all of them under a new lease) and the deletes of those no
// longer measured; next is what the published cache holds once they land.
func (c *Coordinator) driftOps(lease clientv3.LeaseID) (ops []clientv3.Op, next map[string]string, err error) {
	next = map[string]string{}
	if c.driftSrc != nil {
		for key, w := range c.driftSrc.DriftMeasurements() {
			model, version, ok := driftKey(key)
			if !ok {
				c.warnBadDriftKey(key)
				continue
			}
			b, err := json.Marshal(w)
			if err != nil {
				return nil, nil, fmt.Errorf("drift window set %q: %w", key, err)
			}
			next[key] = string(b)
			if prev, ok := c.published[key]; !ok || prev != string(b) || lease != c.publishedLease {
				ops = append(ops, clientv3.OpPut(c.key("drift", model, version, c.name), string(b), clientv3.WithLease(lease)))
			}
		}
	}
	for key := range c.published {
		if _, ok := next[key]; !ok {
			model, version, _ := driftKey(key)
			ops = append(ops, clientv3.OpDelete(c.key("drift", model, version, c.name)))
		}
	}
	return ops, next, nil
}

// warnBadDriftKey logs a malformed DriftSource key once, not at every
// publish.
func (c *Coordinator) warnBadDriftKey(key string) {
	if c.badDriftKeys[key] {
		return
	}
	c.badDriftKeys[key] = true
	c.log.Warn("coordination: a drift window set's key is not \"model/version\"; not publishing it", "key", key)
}

// commit runs ops in as few transactions as etcd accepts, in order.
func (c *Coordinator) commit(ctx context.Context, ops []clientv3.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		if _, err := c.cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// driftEvent applies one change of a replica's window set for key.
func (c *Coordinator) driftEvent(key, replica string, deleted bool, value []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		delete(c.driftWins[key], replica)
		if len(c.driftWins[key]) == 0 {
			delete(c.driftWins, key)
		}
		return
	}
	var w drift.WindowSet
	if err := json.Unmarshal(value, &w); err != nil {
		c.log.Warn("coordination: a replica's drift window set is not JSON of drift.WindowSet; ignoring it", "key", key, "replica", replica, "err", err)
		return
	}
	if c.driftWins[key] == nil {
		c.driftWins[key] = map[string]drift.WindowSet{}
	}
	c.driftWins[key][replica] = w
}

// triggerEvent applies one change of model's trigger record made at
// store revision modRev.
func (c *Coordinator) triggerEvent(model string, deleted bool, value []byte, modRev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		// A deleted record is no record: the entry goes, so that a model
		// whose record is deleted leaves nothing behind. A stale read
		// applied after it can bring the record back; the next write's
		// compare-and-swap fails on it and learns the key is gone.
		if modRev > c.triggers[model].seen {
			delete(c.triggers, model)
		}
		return
	}
	r := triggerRecord{seen: modRev, rev: modRev}
	if err := json.Unmarshal(value, &r.t); err != nil {
		c.log.Warn("coordination: a model's drift trigger record is not JSON of drift.Trigger; treating it as none", "model", model, "err", err)
	} else {
		r.ok = true
	}
	c.applyTrigger(model, r)
}

// applyTrigger keeps r unless a newer change is already applied; c.mu is
// held.
func (c *Coordinator) applyTrigger(model string, r triggerRecord) {
	if r.seen > c.triggers[model].seen {
		c.triggers[model] = r
	}
}

// resetDrift forgets the watched drift state before sync applies a full
// read made at store revision rev; c.mu is held. A trigger record this
// replica wrote after that read is newer than the read and kept.
func (c *Coordinator) resetDrift(rev int64) {
	c.driftWins = map[string]map[string]drift.WindowSet{}
	for model, r := range c.triggers {
		if r.seen <= rev {
			delete(c.triggers, model)
		}
	}
}

// DriftWindows are the other live replicas' latest window sets for key
// ("model/version"), in replica order; the caller may keep and change
// them.
func (c *Coordinator) DriftWindows(key string) []drift.WindowSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	byReplica := c.driftWins[key]
	replicas := make([]string, 0, len(byReplica))
	for r := range byReplica {
		if r != c.name {
			replicas = append(replicas, r)
		}
	}
	slices.Sort(replicas)
	out := make([]drift.WindowSet, 0, len(replicas))
	for _, r := range replicas {
		w := byReplica[r]
		w.Counts, w.Sums = slices.Clone(w.Counts), slices.Clone(w.Sums)
		out = append(out, w)
	}
	return out
}

// LastTrigger is the fleet's record of model's last trigger, as watched,
// and the key's revision: what a WriteTrigger made on this reading
// compares with.
func (c *Coordinator) LastTrigger(model string) (drift.Trigger, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.triggers[model]
	return r.t, r.rev, r.ok
}

// WriteTrigger records t as model's last trigger under
// drift-triggers/{model}, outside any lease so that it outlives the
// leader, if the key is still at revision rev (0: absent), the one the
// caller read with LastTrigger or got from its previous write: a
// compare-and-swap. It answers the key's new revision. An error means
// another replica recorded a trigger first, or etcd could not be reached:
// the trigger must not be sent.
func (c *Coordinator) WriteTrigger(ctx context.Context, model string, t drift.Trigger, rev int64) (int64, error) {
	if model == "" || strings.Contains(model, "/") {
		return 0, tensor.Errorf(tensor.InvalidArgument, "drift trigger for model %q: expected a model name without \"/\"", model)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return 0, fmt.Errorf("model %q: encoding drift trigger %q: %w", model, t.ID, err)
	}
	key := c.key("drift-triggers", model)
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(b))).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, tensor.Errorf(tensor.Unavailable, "model %q: recording drift trigger %q in etcd: %w", model, t.ID, err)
	}
	if !resp.Succeeded {
		c.learnTrigger(model, resp)
		return 0, tensor.Errorf(tensor.Unavailable, "model %q: the drift trigger record changed after revision %d, the one read; not recording trigger %q", model, rev, t.ID)
	}
	c.mu.Lock()
	c.applyTrigger(model, triggerRecord{t: t, ok: true, rev: resp.Header.Revision, seen: resp.Header.Revision})
	c.mu.Unlock()
	return resp.Header.Revision, nil
}

// learnTrigger applies the record a failed compare-and-swap read, so the
// next LastTrigger answers it without waiting for the watch.
func (c *Coordinator) learnTrigger(model string, resp *clientv3.TxnResponse) {
	if len(resp.Responses) == 0 || resp.Responses[0].GetResponseRange() == nil {
		return
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		c.triggerEvent(model, false, kvs[0].Value, kvs[0].ModRevision)
		return
	}
	c.triggerEvent(model, true, nil, resp.Header.Revision)
}
