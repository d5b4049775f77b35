//go:build !unix

package input

func allocSlots(n int) []uint64 { return make([]uint64, n) }

func freeSlots([]uint64) {}
