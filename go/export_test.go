package bitgask

// PoisonCloses makes every DB.Close report what bitgask_close returns for a poisoned handle
// (after closing for real), until the returned function is called.
func PoisonCloses() (restore func()) {
	poisoned := func(s Status) Status {
		if s == StatusOK {
			return StatusPoisoned
		}
		return s
	}
	closeStatus.Store(&poisoned)
	return func() { closeStatus.Store(nil) }
}
