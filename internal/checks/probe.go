package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxBody bounds how much of a response body is read.
const maxBody = 1 << 20

// Probe sends GET http://addr+path and passes on any 2xx status. The
// error says the status, or the transport error. A nil client means
// http.DefaultClient; path "" means "/".
func Probe(ctx context.Context, client *http.Client, addr, path string) error {
	if path == "" {
		path = "/"
	}
	target := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	resp, err := noRedirects(client).Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", target, unwrapURL(err))
	}
	drain(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: status %d", target, resp.StatusCode)
	}
	return nil
}

// noRedirects returns a copy of client (http.DefaultClient if nil) that
// does not follow redirects, sharing its transport.
func noRedirects(client *http.Client) *http.Client {
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// unwrapURL drops the *url.Error wrapper, whose message repeats the
// method and URL that the caller's message already names.
func unwrapURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// drain reads what is left of a body, up to maxBody, into a small fixed
// buffer (io.Copy to io.Discard takes a pooled 8 KiB one per probe under
// way) and closes it, so the connection can be reused.
func drain(body io.ReadCloser) {
	drainBody(body, maxBody)
}
