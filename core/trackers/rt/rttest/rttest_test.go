package rttest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestStartFresh(t *testing.T) {
	s := StartT(t)
	if _, err := os.Stat(filepath.Join(s.Dir, "rtdb")); err != nil {
		t.Fatalf("database not in the temporary directory: %v", err)
	}
	get := func(auth func(*http.Request)) (int, map[string]any) {
		req, _ := http.NewRequest("GET", s.URL+"/REST/2.0/tickets?query=id>0", nil)
		auth(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	code, body := get(func(r *http.Request) { r.SetBasicAuth(s.User, s.Password) })
	if code != 200 || body["total"] != float64(0) {
		t.Errorf("basic auth search on a fresh RT: got %d %v, want 200 and total 0", code, body)
	}
	tok, err := s.Token(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(func(r *http.Request) { r.Header.Set("Authorization", "token "+tok) }); code != 200 {
		t.Errorf("token auth: got %d, want 200", code)
	}
	if code, _ := get(func(r *http.Request) { r.SetBasicAuth("root", "wrong") }); code != 401 {
		t.Errorf("wrong password: got %d, want 401", code)
	}
}
