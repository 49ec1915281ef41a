package etcd

import (
	"encoding/json"
	"testing"
)

// TestMemberIDEncodings checks both encodings of a uint64 ID: the string etcd 3.5's
// gateway sends (proto3 JSON) and a plain number, including a value above 2^53 that a
// float64 would round.
func TestMemberIDEncodings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{`{"ID":"13668033151171901709","name":"a"}`, 13668033151171901709},
		{`{"ID":13668033151171901709,"name":"a"}`, 13668033151171901709},
		{`{"ID":"1"}`, 1},
		{`{"name":"no id"}`, 0},
	} {
		var w wireMember
		if err := json.Unmarshal([]byte(tc.in), &w); err != nil {
			t.Fatalf("decode %s: %v", tc.in, err)
		}
		if uint64(w.ID) != tc.want {
			t.Fatalf("decode %s: ID %d, want %d", tc.in, w.ID, tc.want)
		}
	}
	for _, bad := range []string{`{"ID":"x"}`, `{"ID":-1}`, `{"ID":1.5}`, `{"ID":true}`} {
		var w wireMember
		if err := json.Unmarshal([]byte(bad), &w); err == nil {
			t.Fatalf("decode %s: got ID %d, want an error", bad, w.ID)
		}
	}
}
