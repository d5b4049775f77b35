package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// realisticRow is row i of a migration: three fields, a few nested keys,
// about 300 bytes, a distinct user per i. It is the row input's
// RealisticNDJSON and RealisticCSV benchmarks read.
func realisticRow(i int) (id, public, private, unsafe string) {
	id = fmt.Sprintf("user_2xhFjEI5X2qWRvtV1%06dH6Dk", i)
	public = `{"plan":"pro","seats":` + strconv.Itoa(i%50) + `,"features":{"sso":true,"audit_log":false},"tags":["beta","eu"]}`
	private = fmt.Sprintf(`{"stripe_customer":"cus_%08d","ledger_id":9007199254740993,"billing":{"country":"DE","vat":"DE123456789"}}`, i)
	unsafe = `{"theme":"dark","onboarding":{"step":3,"done":false}}`
	return
}

// body is the request body the SDK sends for row i: the three fields, in
// this order, as written.
func body(i int) []byte {
	_, pub, priv, uns := realisticRow(i)
	return []byte(`{"public_metadata":` + pub + `,"private_metadata":` + priv + `,"unsafe_metadata":` + uns + `}`)
}

// input returns the path of a file of n realistic rows in format (ndjson
// or csv), writing it the first time.
func (b *bench) input(format string, n int) (string, error) {
	key := fmt.Sprintf("%s-%d", format, n)
	if p, ok := b.inputs[key]; ok {
		return p, nil
	}
	p := filepath.Join(b.dir, fmt.Sprintf("rows-%d.%s", n, format))
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	switch format {
	case "ndjson":
		for i := range n {
			id, pub, priv, uns := realisticRow(i)
			fmt.Fprintf(w, `{"user_id":%q,"public_metadata":%s,"private_metadata":%s,"unsafe_metadata":%s}`+"\n", id, pub, priv, uns)
		}
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"user_id", "public_metadata", "private_metadata", "unsafe_metadata"})
		for i := range n {
			id, pub, priv, uns := realisticRow(i)
			cw.Write([]string{id, pub, priv, uns})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			f.Close()
			return "", err
		}
	default:
		f.Close()
		return "", fmt.Errorf("unknown format %q", format)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	b.inputs[key] = p
	return p, nil
}
