package data

import (
	"encoding/binary"
	"hash/fnv"
	"math"
)

// rowKey hashes a record's checked values, so a row's split depends on its
// content and the seed alone: adding rows never moves old ones between
// splits, and duplicate records land in the same split instead of leaking
// from train into test.
func rowKey(vals []float64) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, v := range vals {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		h.Write(b[:])
	}
	return h.Sum64()
}

// split sends each row to test, validation or train by where its seeded key
// falls in [0, 1); shares follow the fractions up to sampling noise.
func split(all Dataset, keys []uint64, opt PrepOptions) (train, val, test Dataset) {
	for i, k := range keys {
		u := float64(mix(k^mix(opt.Seed))>>11) / (1 << 53)
		d := &train
		switch {
		case u < opt.TestFraction:
			d = &test
		case u < opt.TestFraction+opt.ValFraction:
			d = &val
		}
		d.X, d.Y = append(d.X, all.X[i]), append(d.Y, all.Y[i])
	}
	return train, val, test
}

// mix is the splitmix64 finaliser; FNV's high bits alone are poorly mixed.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
