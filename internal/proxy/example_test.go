package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

func ExampleProxy() {
	v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from v1")
	}))
	defer v1.Close()

	p := &proxy.Proxy{VersionHeader: "X-Version"}
	p.SetRoute(router.Route{
		Service: "web",
		Backends: []router.Backend{
			{Version: "v1", Weight: 100, Addrs: []string{strings.TrimPrefix(v1.URL, "http://")}},
			{Version: "v2", Weight: 0}, // not ready yet: no addresses
		},
	})
	front := httptest.NewServer(p)
	defer front.Close()

	res, err := front.Client().Get(front.URL + "/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, res.Header.Get("X-Version"), string(body))
	c := p.Counts("web", "v1")
	fmt.Printf("%d requests, %d errors, %d users\n", c.Requests, c.Errors, c.Users)
	// Output:
	// 200 v1 hello from v1
	// 1 requests, 0 errors, 1 users
}
