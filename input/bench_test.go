package input

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"testing"
)

// realisticRow is a row like a real migration's: three fields, a few
// nested keys, about 300 bytes.
func realisticRow(i int) (id, public, private, unsafe string) {
	id = fmt.Sprintf("user_2xhFjEI5X2qWRvtV1%06dH6Dk", i)
	public = fmt.Sprintf(`{"plan":"pro","seats":%d,"features":{"sso":true,"audit_log":false},"tags":["beta","eu"]}`, i%50)
	private = fmt.Sprintf(`{"stripe_customer":"cus_%08d","ledger_id":9007199254740993,"billing":{"country":"DE","vat":"DE123456789"}}`, i)
	unsafe = `{"theme":"dark","onboarding":{"step":3,"done":false}}`
	return
}

// RealisticNDJSON returns n realistic NDJSON rows.
func RealisticNDJSON(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		id, pub, priv, uns := realisticRow(i)
		fmt.Fprintf(&b, `{"user_id":%q,"public_metadata":%s,"private_metadata":%s,"unsafe_metadata":%s}`+"\n", id, pub, priv, uns)
	}
	return b.Bytes()
}

// RealisticCSV returns the same n rows as CSV.
func RealisticCSV(n int) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"user_id", "public_metadata", "private_metadata", "unsafe_metadata"})
	for i := range n {
		id, pub, priv, uns := realisticRow(i)
		w.Write([]string{id, pub, priv, uns})
	}
	w.Flush()
	return b.Bytes()
}

func benchRead(b *testing.B, f Format, data []byte, rows int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r, err := Open(bytes.NewReader(data), "bench", f)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || row.Err != nil {
				b.Fatal(err, row.Err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("%d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkNDJSON and BenchmarkCSV measure validation speed (the target:
// 150,000 realistic rows a second on one core, CSV within 2x of NDJSON).
func BenchmarkNDJSON(b *testing.B) {
	const rows = 20000
	benchRead(b, NDJSON, RealisticNDJSON(rows), rows)
}

func BenchmarkCSV(b *testing.B) {
	const rows = 20000
	benchRead(b, CSV, RealisticCSV(rows), rows)
}

func BenchmarkIndex(b *testing.B) {
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("user_2xhFjEI5X2qWRvtV1%06dH6Dk", i)
	}
	var x Index
	b.ReportAllocs()
	for i := range b.N {
		x.Add(ids[i&(len(ids)-1)])
	}
}
