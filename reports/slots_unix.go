//go:build unix

package reports

import (
	"syscall"
	"unsafe"
)

// allocBackupSlots maps n zeroed slots outside the Go heap (as input's
// index does). Pages are only resident once written.
func allocBackupSlots(n int) []backupSlot {
	size := n * int(unsafe.Sizeof(backupSlot{}))
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]backupSlot, n) // out of mappings: the heap still works
	}
	return unsafe.Slice((*backupSlot)(unsafe.Pointer(&b[0])), n)
}

// freeBackupSlots unmaps slots from allocBackupSlots. Slots from the heap
// fallback are left to the collector: Munmap refuses them.
func freeBackupSlots(s []backupSlot) {
	if len(s) == 0 {
		return
	}
	syscall.Munmap(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(backupSlot{}))))
}
