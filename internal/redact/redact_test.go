package redact_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/redact"
)

func TestURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.slack.com/services/T000/B000/XXXXSECRET": "https://hooks.slack.com/…",
		"https://user:pass@ci.example.com/confirm?token=abc":    "https://ci.example.com/…",
		"http://127.0.0.1:9000":                                 "http://127.0.0.1:9000",
		"not a url":                                             "(a URL)",
	} {
		if got := redact.URL(raw); got != want {
			t.Errorf("URL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestErrDropsTheURL(t *testing.T) {
	secret := "http://127.0.0.1:1/services/T000/B000/XXXXSECRET"
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, secret, nil)
	_, err := http.DefaultClient.Do(req)
	if err == nil || !strings.Contains(err.Error(), "XXXXSECRET") {
		t.Fatalf("the client's error should carry the URL for this test to mean anything: %v", err)
	}
	if got := redact.Err(err).Error(); strings.Contains(got, "XXXXSECRET") || !strings.Contains(got, "connection refused") {
		t.Errorf("Err = %q, want the cause without the URL", got)
	}
}
