package jsonc

import (
	"fmt"
	"strings"
	"testing"
)

// benchRecords are records as a sync saves them: a contact with a few numbers, and a row of
// metrics that is mostly numbers.
func benchRecords() map[string][]byte {
	var metrics strings.Builder
	metrics.WriteString(`{"id":"m-1"`)
	for i := range 40 {
		fmt.Fprintf(&metrics, `,"k%02d":%d.%d`, i, i*1234567, i%10)
	}
	metrics.WriteString(`,"count":12345,"ratio":0.000123,"big":9007199254740993}`)
	return map[string][]byte{
		"contact": []byte(`{"id":"c-123","name":"Ada Lovelace","email":"ada@example.com","age":36,"score":98.5,` +
			`"tags":["vip","eu"],"address":{"city":"London","zip":"N1 9GU","lat":51.5072,"lng":-0.1276},"active":true}`),
		"metrics": []byte(metrics.String()),
	}
}

func BenchmarkCanonical(b *testing.B) {
	for name, rec := range benchRecords() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(rec)))
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = Canonical(buf[:0], rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
