//go:build !unix

package reports

func allocBackupSlots(n int) []backupSlot { return make([]backupSlot, n) }

func freeBackupSlots([]backupSlot) {}
