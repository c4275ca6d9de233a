package transport

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func payloadOf(n int) json.RawMessage {
	return json.RawMessage(`{"description":"` + strings.Repeat("x", n) + `"}`)
}

// Fit sends what one request can carry: everything small at once, a run of big events cut
// where the next would not fit, and a first event too big alone refused for good.
func TestFitCutsBatchesToWhatOneRequestCarries(t *testing.T) {
	small := []Event{{Seq: 1, ID: "a", ItemKey: "K-1", Kind: "create", Payload: payloadOf(100)}, {Seq: 2, ID: "b", ItemKey: "K-2", Kind: "update"}}
	if n, err := Fit(small); n != 2 || err != nil {
		t.Errorf("small events: %d, %v; want all 2", n, err)
	}
	big := []Event{{Seq: 1, ID: "a", ItemKey: "K-1", Kind: "create", Payload: payloadOf(3 << 20)},
		{Seq: 2, ID: "b", ItemKey: "K-2", Kind: "create", Payload: payloadOf(3 << 20)},
		{Seq: 3, ID: "c", ItemKey: "K-3", Kind: "create", Payload: payloadOf(3 << 20)}}
	n, err := Fit(big)
	if n != 2 || err != nil {
		t.Fatalf("three 3 MB events: %d, %v; want the first 2", n, err)
	}
	if body, _ := json.Marshal(batchRequest{Events: big[:n]}); len(body) > MaxBody {
		t.Errorf("the 2 events Fit chose encode to %d bytes, over %d", len(body), MaxBody)
	}
	huge := append([]Event{{Seq: 7, ID: "h", ItemKey: "K-7", Kind: "update", Payload: payloadOf(MaxBody)}}, small...)
	n, err = Fit(huge)
	var tooLarge *EventTooLargeError
	if n != 0 || !errors.As(err, &tooLarge) || tooLarge.EventSeq() != 7 || !tooLarge.Permanent() || !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("an event over MaxBody first: %d, %v; want an EventTooLargeError for seq 7", n, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "K-7") || !strings.Contains(msg, "over the 8 MB a partner accepts") {
		t.Errorf("message %q should name the item and the limit", msg)
	}
}
