package train

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// Adam's usual moment decays and the guard against dividing by zero.
const (
	beta1 = 0.9
	beta2 = 0.999
	eps   = 1e-8
)

// adam holds first and second moments, one slice per parameter tensor in
// the order W[0], B[0], W[1], B[1], ….
type adam struct {
	lr   float64
	step int
	m, v [][]float64
}

func newAdam(n *net, lr float64) *adam {
	a := &adam{lr: lr}
	for _, p := range params(n) {
		a.m, a.v = append(a.m, make([]float64, len(p))), append(a.v, make([]float64, len(p)))
	}
	return a
}

// params are n's parameters as flat slices over their storage.
func params(n *net) [][]float64 {
	var ps [][]float64
	for l, w := range n.W {
		ps = append(ps, w.RawMatrix().Data, n.B[l])
	}
	return ps
}

// update takes one bias-corrected Adam step on n.
func (a *adam) update(n *net, gW []*mat.Dense, gB [][]float64) {
	a.step++
	c1 := 1 - math.Pow(beta1, float64(a.step))
	c2 := 1 - math.Pow(beta2, float64(a.step))
	for k, p := range params(n) {
		g := gB[k/2]
		if k%2 == 0 {
			g = gW[k/2].RawMatrix().Data
		}
		m, v := a.m[k], a.v[k]
		for i := range p {
			m[i] = beta1*m[i] + (1-beta1)*g[i]
			v[i] = beta2*v[i] + (1-beta2)*g[i]*g[i]
			p[i] -= a.lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + eps)
		}
	}
}
