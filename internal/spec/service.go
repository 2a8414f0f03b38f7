package spec

// Service returns the service with the given name.
func (c *Config) Service(name string) (*Service, bool) {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i], true
		}
	}
	return nil, false
}

// Replicas is how many instances of each version run: the process
// or kubernetes platform's replicas, or 1 on the static platform, whose instances are
// the targets given for each version.
func (s *Service) Replicas() int {
	if p := s.Platform.Process; p != nil && p.Replicas > 0 {
		return p.Replicas
	}
	if p := s.Platform.Kubernetes; p != nil && p.Replicas > 0 {
		return p.Replicas
	}
	if p := s.Platform.Docker; p != nil && p.Replicas > 0 {
		return p.Replicas
	}
	return 1
}
