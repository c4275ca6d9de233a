package agent

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Settings saved before the registry (RT's fields at the top level) read as RT's values.
func TestTrackerSettingsReadsSettingsFromBeforeTheRegistry(t *testing.T) {
	for _, tc := range []struct {
		stored string
		want   map[string]string
	}{
		{`{"kind":"rt","url":"https://rt.example.com","queues":["General","Support"],"user":"root","poll":30000000000}`,
			map[string]string{"url": "https://rt.example.com", "queues": "General, Support", "auth": "password", "user": "root"}},
		{`{"kind":"rt","url":"https://rt.example.com","queues":["General"]}`,
			map[string]string{"url": "https://rt.example.com", "queues": "General", "auth": "token"}},
		{`{"kind":"github","values":{"repositories":"a/b"}}`, map[string]string{"repositories": "a/b"}},
	} {
		var s TrackerSettings
		if err := json.Unmarshal([]byte(tc.stored), &s); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.Values, tc.want) {
			t.Errorf("%s read as %v, want %v", tc.stored, s.Values, tc.want)
		}
	}
}
