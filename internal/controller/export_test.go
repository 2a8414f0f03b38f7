package controller

// Steps returns how many steps the service's loop has taken, for tests
// that check a loop sleeps when nothing changes.
func (c *Controller) Steps(service string) int64 {
	l, err := c.service(service)
	if err != nil {
		return -1
	}
	return l.steps.Load()
}
