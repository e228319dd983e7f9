package codec

import (
	"testing"
	"time"
)

// The hot path of a load run: one grpchat per INFO, parsed by every receiver.
func BenchmarkParseChat(b *testing.B) {
	body, err := Marshal(Envelope{EnvID: 1804289383, Items: []Item{
		NewChat(room, alice, time.Date(2024, 5, 1, 12, 0, 0, 123456700, time.UTC), "soak 7f3e9b2a #1 payload payload payload")}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalChat(b *testing.B) {
	env := Envelope{EnvID: 1804289383, Items: []Item{
		NewChat(room, alice, time.Date(2024, 5, 1, 12, 0, 0, 123456700, time.UTC), "soak 7f3e9b2a #1 payload payload payload")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(env); err != nil {
			b.Fatal(err)
		}
	}
}
