package soak

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// kind is one of the mixed calls: a model, JSON or binary, with or without
// a routing key.
type kind struct {
	name string
	p    *client.Prepared
}

// prepareKinds encodes the six kinds of call the soak mixes.
func prepareKinds(c *client.Client) ([]kind, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	floats := func(shape ...int64) []byte {
		b := make([]byte, 0, 4*tensor.Elements(shape))
		for range tensor.Elements(shape) {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(rng.Float32()))
		}
		return b
	}
	crop := []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{1, 3, 48, 192}, Data: floats(1, 3, 48, 192)}}
	student := []tensor.Tensor{{Name: "features", DataType: tensor.FP32, Shape: []int64{1, 8}, Data: floats(1, 8)}}
	specs := []struct {
		name, model string
		in          []tensor.Tensor
		opt         client.Options
	}{
		{"ppocr-cls binary", "ppocr-cls", crop, client.Options{Binary: true}},
		{"ppocr-cls JSON", "ppocr-cls", crop, client.Options{}},
		{"student-success binary", "student-success", student, client.Options{Binary: true}},
		{"student-success JSON", "student-success", student, client.Options{}},
		{"student-success binary, routing key", "student-success", student, client.Options{Binary: true, RoutingKey: "soak-a"}},
		{"student-success JSON, routing key", "student-success", student, client.Options{RoutingKey: "soak-b"}},
	}
	var out []kind
	for _, s := range specs {
		p, err := c.Prepare(s.model, "", s.in, s.opt)
		if err != nil {
			return nil, err
		}
		out = append(out, kind{s.name, p})
	}
	return out, nil
}

// soaker is one soak under way.
type soaker struct {
	cfg   Config
	sup   *supervisor
	c     *client.Client
	kinds []kind
	rep   *Report
	seq   atomic.Int64
}

// callTimeout bounds one call: past the server's drain, so a call in flight
// at a restart is answered or fails, never hangs the soak.
const callTimeout = 30 * time.Second

// load sends calls at cfg.Rate, the kinds in turn, through a bounded pool
// of senders; a call that finds every sender busy is counted as skipped.
func (s *soaker) load(ctx context.Context) {
	const senders = 128
	jobs := make(chan int, senders)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for k := range jobs {
				s.call(k)
			}
		})
	}
	gap := time.Duration(float64(time.Second) / s.cfg.Rate)
	tick := time.NewTicker(gap)
	defer func() { tick.Stop(); close(jobs); wg.Wait() }()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case jobs <- i % len(s.kinds):
		default:
			s.rep.skip()
		}
	}
}

// call sends one call of kind k and records what became of it.
func (s *soaker) call(k int) {
	id := "soak-" + strconv.FormatInt(s.seq.Add(1), 10)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	res, err := s.c.SendTagged(ctx, s.kinds[k].p, id)
	if err != nil {
		s.rep.failed(failure{id: id, kind: s.kinds[k].name, start: start, end: time.Now(), err: err.Error()})
		return
	}
	s.rep.answered(s.kinds[k].name, res.Status, res.Version)
}
