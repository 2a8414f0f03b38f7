package web

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// maxWindow bounds the window a chart may ask for.
const maxWindow = 10 * time.Minute

// WindowPoint is GET /ui/api/window's answer: one version's measurements
// over the window that ended at End.
type WindowPoint struct {
	metrics.Sample
	// ErrorRate is Errors/Requests, 0 without requests.
	ErrorRate float64 `json:"errorRate"`
	// End is the window's end; Seconds its length.
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
}

// window answers GET /ui/api/window?service=S&version=V&seconds=N: the
// version's requests that finished in the last N seconds (default 5).
func (h *Handler) window(w http.ResponseWriter, r *http.Request) {
	if h.Window == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no windowed metrics source", "code": "not_found"})
		return
	}
	q := r.URL.Query()
	service, version := q.Get("service"), q.Get("version")
	secs := 5.0
	if s := q.Get("seconds"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 || time.Duration(v*float64(time.Second)) > maxWindow {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "seconds: want a number in (0, 600]", "code": "bad_request"})
			return
		}
		secs = v
	}
	if service == "" || version == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "service and version are required", "code": "bad_request"})
		return
	}
	end := h.now()
	s, err := h.Window.Window(r.Context(), service, version, end.Add(-time.Duration(secs*float64(time.Second))), end)
	if err != nil {
		h.logger().Error("dashboard window", "service", service, "version", version, "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "measuring the window failed", "code": "internal"})
		return
	}
	writeJSON(w, http.StatusOK, WindowPoint{Sample: s, ErrorRate: s.ErrorRate(), End: end, Seconds: secs})
}

// TemplateInfo is what the page needs of an analysis template.
type TemplateInfo struct {
	Name        string        `json:"name"`
	Interval    time.Duration `json:"interval"`
	MinRequests int           `json:"minRequests"`
	Metrics     []MetricInfo  `json:"metrics"`
}

// MetricInfo is one metric of a template: its judge and condition.
type MetricInfo struct {
	Name      string `json:"name"`
	Judge     string `json:"judge,omitempty"`
	On        string `json:"on,omitempty"`
	Condition string `json:"condition,omitempty"`
}

// templates answers GET /ui/api/templates: the templates by name.
func (h *Handler) templates(w http.ResponseWriter, _ *http.Request) {
	out := []TemplateInfo{}
	for name, t := range h.Templates {
		ti := TemplateInfo{Name: name, Interval: t.Interval.D(), MinRequests: t.MinRequests, Metrics: []MetricInfo{}}
		for _, m := range t.Metrics {
			ti.Metrics = append(ti.Metrics, MetricInfo{Name: m.Name, Judge: m.Judge, On: m.On, Condition: m.Condition})
		}
		out = append(out, ti)
	}
	slices.SortFunc(out, func(a, b TemplateInfo) int { return cmp.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
