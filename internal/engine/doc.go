// Package engine is bluejay's rollout state machine. It is pure: Step
// takes a rollout's persisted state, the latest observation of the world
// and the current time, and returns a Decision — the next phase with its
// reason and numbers, the traffic split, and the actions to take. It does
// no I/O, starts no goroutine and reads no clock, so every transition is
// table-tested with a fake clock.
//
// The engine is level-triggered: it says what should be true now (which
// versions run, which weights apply) rather than what changed, so after a
// crash the controller re-derives the same actions from the persisted
// phase and the world as it finds it.
package engine
