package sampleapp

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEchoAnswersAndRecordsWhatItReceived(t *testing.T) {
	path := filepath.Join(t.TempDir(), "received.jsonl")
	rec, err := openRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(options{version: "v7"})
	a.record = rec
	srv := httptest.NewServer(a.routes())
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/echo?case=hello", strings.NewReader("twelve bytes"))
	req.Header.Set("X-Real-IP", "6.6.6.6")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var answered Received
	if err := json.NewDecoder(res.Body).Decode(&answered); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recorded Received
	sc := bufio.NewScanner(f)
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &recorded) != nil {
		t.Fatalf("no JSON line recorded in %s", path)
	}
	for _, got := range []Received{answered, recorded} {
		if got.Case != "hello" || got.Version != "v7" || got.Method != "POST" || got.BodyBytes != 12 ||
			got.Header.Get("X-Real-Ip") != "6.6.6.6" {
			t.Errorf("echo saw %+v, want case hello, v7, POST, 12 body bytes, X-Real-Ip", got)
		}
	}
}
