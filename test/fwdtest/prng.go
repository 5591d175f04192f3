package fwdtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
)

// PRNG returns a reader of n deterministic pseudo-random bytes (ChaCha8
// seeded by seed), then io.EOF. It produces several GB/s, so hashing, not
// generating, bounds a bulk transfer test.
func PRNG(seed uint64, n int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return &prngReader{c: rand.NewChaCha8(s), left: n}
}

type prngReader struct {
	c    *rand.ChaCha8
	left int64
}

func (r *prngReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, _ := r.c.Read(p)
	r.left -= int64(n)
	return n, nil
}

// writePRNGFile writes n bytes of PRNG(seed) to path and returns their
// SHA-256 in hex.
func writePRNGFile(path string, seed uint64, n int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("fwdtest: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), PRNG(seed, n))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("fwdtest: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
