package checks_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/checks"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func ExampleRunSmoke() {
	v2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hello from v2")
	}))
	defer v2.Close()
	addrs := []string{strings.TrimPrefix(v2.URL, "http://")}

	res := checks.RunSmoke(context.Background(), nil, addrs, []spec.Smoke{
		{Name: "home", Method: "GET", Path: "/", ExpectStatus: 200, ExpectBody: "v2"},
	})
	fmt.Println(res.Passed, res.Reason)

	res = checks.RunSmoke(context.Background(), nil, addrs, []spec.Smoke{
		{Name: "home", Path: "/", ExpectBody: "v3"},
	})
	fmt.Println(res.Passed, res.Check, strings.ReplaceAll(res.Reason, addrs[0], "ADDR"))
	// Output:
	// true 1 smoke test passed on 1 instance
	// false home GET / on ADDR: body does not contain "v3"
}
