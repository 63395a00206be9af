package train

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// net is the network being trained: layer l maps acts[l] to acts[l+1] by
// acts[l]·W[l] + B[l], with ReLU after every layer but the last.
type net struct {
	W []*mat.Dense // [in][out], the layout model.Layer stores
	B [][]float64
}

// newNet draws He-scaled weights (√(2/in)) so ReLU layers start with unit
// variance; biases start at 0.
func newNet(sizes []int, rng *rand.Rand) *net {
	n := &net{}
	for l := range len(sizes) - 1 {
		in, out := sizes[l], sizes[l+1]
		w := mat.NewDense(in, out, nil)
		scale := math.Sqrt(2 / float64(in))
		for i := range in {
			for j := range out {
				w.Set(i, j, scale*rng.NormFloat64())
			}
		}
		n.W, n.B = append(n.W, w), append(n.B, make([]float64, out))
	}
	return n
}

// clone is a deep copy, the snapshot early stopping restores.
func (n *net) clone() *net {
	c := &net{}
	for l, w := range n.W {
		c.W = append(c.W, mat.DenseCopyOf(w))
		c.B = append(c.B, append([]float64(nil), n.B[l]...))
	}
	return c
}

// forward returns every layer's output; the last is the logits (rows×1).
func (n *net) forward(x *mat.Dense) []*mat.Dense {
	acts := []*mat.Dense{x}
	for l, w := range n.W {
		var z mat.Dense
		z.Mul(acts[l], w)
		last := l == len(n.W)-1
		z.Apply(func(_, j int, v float64) float64 {
			v += n.B[l][j]
			if !last {
				v = max(v, 0)
			}
			return v
		}, &z)
		acts = append(acts, &z)
	}
	return acts
}

// loss is the mean binary cross-entropy of logits z against labels y,
// in the form that does not overflow for large |z|.
func loss(z *mat.Dense, y []float64) float64 {
	s := 0.0
	for i, yi := range y {
		v := z.At(i, 0)
		s += max(v, 0) - v*yi + math.Log1p(math.Exp(-math.Abs(v)))
	}
	return s / float64(len(y))
}

// grads is the gradient of the mean cross-entropy plus l2/2·‖W‖² at x, y.
func (n *net) grads(x *mat.Dense, y []float64, l2 float64) (gW []*mat.Dense, gB [][]float64) {
	acts := n.forward(x)
	L := len(n.W)
	gW, gB = make([]*mat.Dense, L), make([][]float64, L)
	d := outputDelta(acts[L], y)
	for l := L - 1; l >= 0; l-- {
		gW[l] = &mat.Dense{}
		gW[l].Mul(acts[l].T(), d)
		gW[l].Apply(func(i, j int, v float64) float64 { return v + l2*n.W[l].At(i, j) }, gW[l])
		gB[l] = colSums(d)
		if l > 0 {
			d = hiddenDelta(d, n.W[l], acts[l])
		}
	}
	return gW, gB
}

// outputDelta is ∂loss/∂z = (σ(z) − y)/batch.
func outputDelta(z *mat.Dense, y []float64) *mat.Dense {
	d := mat.NewDense(len(y), 1, nil)
	for i, yi := range y {
		d.Set(i, 0, (1/(1+math.Exp(-z.At(i, 0)))-yi)/float64(len(y)))
	}
	return d
}

// hiddenDelta carries d back through W and the ReLU whose output is act.
func hiddenDelta(d, w, act *mat.Dense) *mat.Dense {
	var p mat.Dense
	p.Mul(d, w.T())
	p.Apply(func(i, j int, v float64) float64 {
		if act.At(i, j) <= 0 {
			return 0
		}
		return v
	}, &p)
	return &p
}

// colSums adds d's rows.
func colSums(d *mat.Dense) []float64 {
	_, c := d.Dims()
	s := make([]float64, c)
	for j := range s {
		s[j] = mat.Sum(d.ColView(j))
	}
	return s
}
