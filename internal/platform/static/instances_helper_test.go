package static_test

import (
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// instancesOf lists a version's instances, failing the test if they
// cannot be listed.
func instancesOf(t testing.TB, p interface {
	Instances(service, version string) ([]platform.Instance, error)
}, service, version string) []platform.Instance {
	t.Helper()
	insts, err := p.Instances(service, version)
	if err != nil {
		t.Fatalf("listing %s %s: %v", service, version, err)
	}
	return insts
}
