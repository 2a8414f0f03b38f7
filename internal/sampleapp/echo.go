package sampleapp

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sync"
)

// Received is what the app's /echo saw of one request: its answer, and a
// JSON line of the --record file.
type Received struct {
	// Case is the request's ?case= query parameter, naming it for a test.
	Case    string      `json:"case"`
	Version string      `json:"version"`
	Method  string      `json:"method"`
	URI     string      `json:"uri"`
	Proto   string      `json:"proto"`
	Header  http.Header `json:"header"`
	// ContentLength is as the request declared it; -1 for unknown.
	ContentLength    int64    `json:"contentLength"`
	TransferEncoding []string `json:"transferEncoding,omitempty"`
	// BodyBytes are the bytes of body read; BodyErr the read's error.
	BodyBytes int    `json:"bodyBytes"`
	BodyErr   string `json:"bodyErr,omitempty"`
}

// recorder appends what /echo received to the --record file, one JSON
// line per request; nil without --record.
type recorder struct {
	mu sync.Mutex
	f  *os.File
}

func openRecorder(path string) (*recorder, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &recorder{f: f}, nil
}

// record writes one line in a single write, so that the instances of
// every version may share the file.
func (r *recorder) record(rec Received) {
	if r == nil {
		return
	}
	line, _ := json.Marshal(rec)
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.f.Write(append(line, '\n'))
}

// echo answers any request with what it received, as JSON, after reading
// its whole body, and records it with --record.
func (a *app) echo(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	rec := Received{Case: r.URL.Query().Get("case"), Version: a.opts.version, Method: r.Method, URI: r.RequestURI,
		Proto: r.Proto, Header: r.Header, ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, BodyBytes: int(n)}
	if err != nil {
		rec.BodyErr = err.Error()
	}
	a.record.record(rec)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rec)
}
