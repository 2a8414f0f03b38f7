package dockertest

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestAppImage builds the sample app's image and finds it in the Engine.
func TestAppImage(t *testing.T) {
	e := New(t)
	e.AppImage(t, "bluejay-test/app:v1", "bluejay-test/app:v2")
	cli := e.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tag := range []string{"bluejay-test/app:v1", "bluejay-test/app:v2"} {
		img, err := cli.ImageInspect(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		if got := img.Config.Entrypoint; len(got) != 1 || got[0] != "/app" {
			t.Errorf("%s entrypoint = %v, want [/app]", tag, got)
		}
	}
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Engine %s, API %s (client negotiated %s)", v.Version, v.APIVersion, cli.ClientVersion())
}
