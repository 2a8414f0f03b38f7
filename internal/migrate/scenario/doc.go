// Package scenario holds only tests: the seed's schema change (profiles
// name → first_name, last_name) from examples/migrations/profiles,
// applied to a real PostgreSQL cluster in order and read and written
// through the sample app's two schema shapes (sampleapp.Profiles), with
// the destructive-change guard's verdict on each file. The rollout
// around it (expand gate, rehearsal, contract after the window) is
// tested in the controller and end to end.
package scenario
