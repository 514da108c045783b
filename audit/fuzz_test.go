package audit

import (
	"bytes"
	"testing"
)

func FuzzDecodeEvent(f *testing.F) {
	e := sample()
	f.Add(e.Seal())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"v":1,"seq":1}`))
	f.Add([]byte(`{"action":"","actor":{"chain":[],"client_id":"","subject":""},"decision":"","findings":[],"hash":"","node":"","prev_hash":"","reason":"","request_id":"","seq":0,"target":"","time":"0001-01-01T00:00:00Z","type":"","v":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Completeness: what a general JSON decoder reads as an event whose
		// canonical form is exactly data, the strict parser reads too.
		var ref Event
		var p parsed
		if decodeStrict(data, &ref) == nil && ref.V == Version && bytes.Equal(appendCanonical(nil, &ref, true), data) {
			if err := parseStored(data, &p); err != nil {
				t.Fatalf("strict parser rejected a canonical event: %v\n%q", err, data)
			}
		}
		e, err := DecodeEvent(data)
		if err != nil {
			return
		}
		// Whatever decodes and verifies is canonical: sealing it again
		// reproduces the input byte for byte.
		if got := e.Seal(); !bytes.Equal(got, data) {
			t.Fatalf("accepted non-canonical input\n in: %q\nout: %q", data, got)
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add([]byte(`{"node":"n","seq":1,"hash":"00","time":"2026-01-01T00:00:00Z","key_id":"k","sig":"AA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCheckpoint(data)
		if err != nil {
			return
		}
		c.verify(make([]byte, 32)) // must not panic on any signature
	})
}
