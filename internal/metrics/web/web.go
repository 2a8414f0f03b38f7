// Package web is the web metric provider: it asks an HTTP endpoint for a
// JSON document and reads one value out of it with a JSONPath
// (`$.data.value`), Argo Rollouts' web metric. The value is the metric's
// `result`, judged by its successCondition and failureCondition.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"
)

// maxBody bounds the document read from the endpoint.
const maxBody = 1 << 20

// Provider measures one web metric. It is safe for concurrent use.
type Provider struct {
	// URL is requested with Method, Headers and Body.
	URL     string
	Method  string // "" means GET
	Headers map[string]string
	Body    string
	// Timeout bounds the request; 0 means 10s.
	Timeout time.Duration
	// Client sends the request; nil means http.DefaultClient.
	Client *http.Client

	path *jsonpath.JSONPath // nil: the whole document
}

// New returns a provider reading path (such as $.data.value; "" is the
// whole document) from the endpoint's answers, or the path's error.
func New(p Provider, path string) (*Provider, error) {
	if path != "" {
		jp, err := Compile(path)
		if err != nil {
			return nil, err
		}
		p.path = jp
	}
	return &p, nil
}

// Compile parses a JSONPath such as $.data.value or .items[0].count.
func Compile(path string) (*jsonpath.JSONPath, error) {
	jp := jsonpath.New("jsonPath")
	text := path
	if !strings.HasPrefix(text, "{") {
		text = "{" + text + "}"
	}
	if err := jp.Parse(text); err != nil {
		return nil, fmt.Errorf("invalid jsonPath %q: %w (want such as $.data.value)", path, err)
	}
	return jp, nil
}

// Measure requests the endpoint and returns the value at the path: a
// float64 for a JSON number, else the decoded JSON value (string, bool,
// map, slice). A status outside 2xx, a body that is not JSON, or a path
// that matches nothing (or more than one value) is an error.
func (p *Provider) Measure(ctx context.Context) (any, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := p.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL, bytes.NewReader([]byte(p.Body)))
	if err != nil {
		return nil, fmt.Errorf("web %s: %w", p.URL, err)
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("web %s: reading the answer: %w", p.URL, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("web %s: status %d: %s", p.URL, resp.StatusCode, trim(string(body), 200))
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("web %s: the answer is not JSON: %w", p.URL, err)
	}
	if p.path == nil {
		return doc, nil
	}
	return p.find(doc)
}

func (p *Provider) find(doc any) (any, error) {
	found, err := p.path.FindResults(doc)
	if err != nil {
		return nil, fmt.Errorf("web %s: %w", p.URL, err)
	}
	var values []any
	for _, rs := range found {
		for _, r := range rs {
			values = append(values, r.Interface())
		}
	}
	if len(values) != 1 {
		return nil, fmt.Errorf("web %s: the jsonPath matched %d values, want one", p.URL, len(values))
	}
	return values[0], nil
}

// trim cuts s to n bytes.
func trim(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
