package mux

import "sync"

// Buffers come from pools by size class, so that a stream holds memory only
// while data waits in it.
var classes = [...]int{2 << 10, 16 << 10, 64 << 10}

var pools [len(classes)]sync.Pool

func init() {
	for i, size := range classes {
		pools[i].New = func() any { b := make([]byte, size); return &b }
	}
}

// GetBuffer returns a pooled buffer of at least n bytes (n <= 64 KiB); give
// it back with PutBuffer.
func GetBuffer(n int) *[]byte {
	for i, size := range classes {
		if n <= size {
			return pools[i].Get().(*[]byte)
		}
	}
	b := make([]byte, n) // not pooled: PutBuffer drops it
	return &b
}

// PutBuffer returns a buffer from GetBuffer to its pool.
func PutBuffer(b *[]byte) {
	for i, size := range classes {
		if cap(*b) == size {
			*b = (*b)[:size]
			pools[i].Put(b)
			return
		}
	}
}

// MaxBuffer is the largest buffer GetBuffer hands out.
const MaxBuffer = 64 << 10
