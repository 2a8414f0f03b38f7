package spec_test

import (
	"fmt"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func ExampleParse() {
	const yaml = `
admin: {token: s3cret}
services:
  - name: web
    version: v1
    platform:
      process: {command: [./app, --port, "{{.Port}}"]}
    blueGreen: {watch: 0s}
`
	cfg, err := spec.Parse("/etc/bluejay/bluejay.yaml", []byte(yaml))
	if err != nil {
		fmt.Println(err)
		return
	}
	web, _ := cfg.Service("web")
	fmt.Println(cfg.Proxy.Listen, cfg.Store.Path)
	fmt.Println(web.Replicas(), web.Health.Path, web.BlueGreen.Watch, web.BlueGreen.ScaleDownDelay)
	// Output:
	// 127.0.0.1:8080 /etc/bluejay/bluejay.db
	// 1 /healthz 0s 5m0s
}

func ExampleParse_errors() {
	const yaml = `
admin: {token: s3cret}
services:
  - name: web
    versoin: v1
    platform:
      process: {command: [./app], replicas: two}
`
	_, err := spec.Parse("bluejay.yaml", []byte(yaml))
	fmt.Println(err)
	// Output:
	// bluejay.yaml:4:5: services[0].version: a version is required, such as v1, 1.4.0 or a git sha
	// bluejay.yaml:5:5: services[0].versoin: unknown field "versoin" (known: name, match, version, platform, health, smoke, strategy, blueGreen, canary, rolling, sticky, shield, outlier, progressDeadline, onProgressDeadline, onNewVersion, hooks, migrations, protocol, grpc, hsts); did you mean version?
	// bluejay.yaml:7:26: services[0].platform.process.command: the command must listen on {{.Port}}: pass it in an argument or an env value, such as --port {{.Port}}
	// bluejay.yaml:7:45: services[0].platform.process.replicas: want a whole number, got "two"
}
