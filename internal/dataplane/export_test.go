package dataplane

import "github.com/bluejay-deploy/bluejay/internal/router"

// Apply is apply, for the benchmarks: what a change carried by the
// store's watch costs.
func (f *Follower) Apply(rs []router.Route) { f.apply(rs) }
