package txn

// StopAfter makes c's transactions stop after a step of the protocol, as
// if their coordinator died there ("prepare": locks taken, nothing
// decided; "decide": committed, not resolved). "" runs them whole.
func StopAfter(c *Coordinator, step string) { c.stopAfter = step }
