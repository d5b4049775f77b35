//go:build unix

package input

import (
	"syscall"
	"unsafe"
)

// allocSlots maps n zeroed slots outside the Go heap. Pages are only
// resident once written.
func allocSlots(n int) []uint64 {
	b, err := syscall.Mmap(-1, 0, n*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]uint64, n) // out of mappings: the heap still works
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n)
}

// freeSlots unmaps slots from allocSlots. Slots from the heap fallback are
// left to the collector: Munmap refuses them.
func freeSlots(s []uint64) {
	if len(s) == 0 {
		return
	}
	syscall.Munmap(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*8))
}
