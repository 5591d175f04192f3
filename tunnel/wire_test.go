package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/tunnel/catalog"
)

func TestHeaderRoundTrip(t *testing.T) {
	cases := []Target{
		{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 8080},
		{ID: catalog.ID{Project: "p", Kind: catalog.Addon, Name: "db"}, Network: "udp", Port: 65535},
		{ID: catalog.ID{Project: strings.Repeat("x", MaxName), Kind: catalog.Addon, Name: strings.Repeat("y", MaxName)}, Network: "tcp", Port: 1},
	}
	for _, want := range cases {
		b, err := AppendHeader(nil, want)
		if err != nil {
			t.Fatalf("AppendHeader(%v): %v", want, err)
		}
		got, err := ReadHeader(bytes.NewReader(b))
		if err != nil || got != want {
			t.Fatalf("round trip of %v: got %v, %v", want, got, err)
		}
	}
}

func TestHeaderLayout(t *testing.T) {
	b, err := AppendHeader(nil, Target{ID: catalog.ID{Project: "ab", Kind: catalog.Addon, Name: "c"}, Network: "udp", Port: 0x1234})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{'F', 1, 2, 2, 0x12, 0x34, 2, 'a', 'b', 1, 'c'}
	if !bytes.Equal(b, want) {
		t.Fatalf("header bytes % x, want % x (the layout documented in doc.go)", b, want)
	}
}

func TestAppendHeaderRejects(t *testing.T) {
	ok := catalog.ID{Project: "p", Kind: catalog.Service, Name: "s"}
	bad := []Target{
		{ID: catalog.ID{Kind: catalog.Service, Name: "s"}, Network: "tcp"},
		{ID: catalog.ID{Project: strings.Repeat("x", MaxName+1), Kind: catalog.Service, Name: "s"}, Network: "tcp"},
		{ID: catalog.ID{Project: "p", Kind: "job", Name: "s"}, Network: "tcp"},
		{ID: ok, Network: "sctp"},
	}
	for _, tg := range bad {
		if _, err := AppendHeader(nil, tg); !errors.Is(err, ErrBadHeader) {
			t.Errorf("AppendHeader(%+v) = %v, want ErrBadHeader", tg, err)
		}
	}
}

func TestReadHeaderRejects(t *testing.T) {
	bad := map[string][]byte{
		"empty":         {},
		"bad magic":     {'G', 1, 1, 1, 0, 80, 1, 'p', 1, 's'},
		"bad version":   {'F', 9, 1, 1, 0, 80, 1, 'p', 1, 's'},
		"bad network":   {'F', 1, 7, 1, 0, 80, 1, 'p', 1, 's'},
		"bad kind":      {'F', 1, 1, 7, 0, 80, 1, 'p', 1, 's'},
		"empty project": {'F', 1, 1, 1, 0, 80, 0, 1, 's'},
		"truncated":     {'F', 1, 1, 1, 0, 80, 5, 'p'},
		"empty name":    {'F', 1, 1, 1, 0, 80, 1, 'p', 0},
	}
	for name, b := range bad {
		if _, err := ReadHeader(bytes.NewReader(b)); !errors.Is(err, ErrBadHeader) {
			t.Errorf("%s: got %v, want ErrBadHeader", name, err)
		}
	}
}

func TestStatusRoundTrip(t *testing.T) {
	if err := readStatus(bytes.NewReader(appendStatus(nil, StatusOK, "ignored"))); err != nil {
		t.Fatalf("OK status read as %v", err)
	}
	err := readStatus(bytes.NewReader(appendStatus(nil, StatusDialFailed, "shop/api http: gateway could not connect to target: connection refused")))
	var se *StreamError
	if !errors.As(err, &se) || se.Status != StatusDialFailed || !strings.Contains(se.Message, "connection refused") {
		t.Fatalf("got %v", err)
	}
	if !errors.Is(err, ErrDialFailed) {
		t.Fatalf("errors.Is(%v, ErrDialFailed) = false", err)
	}
	long := appendStatus(nil, StatusNotFound, strings.Repeat("x", 5000))
	if err := readStatus(bytes.NewReader(long)); err == nil || len(err.Error()) != maxStatusText {
		t.Fatalf("long message not truncated to %d: %d", maxStatusText, len(err.Error()))
	}
}

func TestControlRoundTripAndLimit(t *testing.T) {
	var buf bytes.Buffer
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop"}}}
	if err := writeControl(&buf, &controlMsg{Type: msgWelcome, Version: Version, Catalog: &cat}); err != nil {
		t.Fatal(err)
	}
	m, err := readControl(bufio.NewReader(&buf))
	if err != nil || m.Type != msgWelcome || m.Catalog.Projects[0].Name != "shop" {
		t.Fatalf("got %+v, %v", m, err)
	}
	huge := binary.BigEndian.AppendUint32(nil, MaxControlFrame+1)
	if _, err := readControl(bufio.NewReader(bytes.NewReader(huge))); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("oversized frame: got %v, want ErrFrameTooLong", err)
	}
	// From the gateway, a frame over 1 MiB is a big catalog, up to 64 MiB.
	if _, err := readGatewayControl(bufio.NewReader(bytes.NewReader(huge))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a 1 MiB + 1 frame from the gateway, cut short: got %v, want it read up to its end", err)
	}
	huger := binary.BigEndian.AppendUint32(nil, MaxCatalogFrame+1)
	if _, err := readGatewayControl(bufio.NewReader(bytes.NewReader(huger))); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("a frame over 64 MiB from the gateway: got %v, want ErrFrameTooLong", err)
	}
}

// TestBigCatalogWelcome: a gateway whose catalog has 30,000 ports (10,000
// services of 3) logs clients in: the welcome, about 1.6 MB, is over the
// 1 MiB a client may send but within what a gateway may.
func TestBigCatalogWelcome(t *testing.T) {
	var svcs []catalog.Resource
	for i := range 10000 {
		var ports []catalog.Port
		for j := range 3 {
			ports = append(ports, catalog.Port{Name: fmt.Sprintf("p%d", j), Port: uint16(8000 + j), Protocol: catalog.TCP, Targets: []string{"10.0.0.1:80"}})
		}
		svcs = append(svcs, catalog.Resource{Kind: catalog.Service, Project: "big", Name: fmt.Sprintf("service-%05d", i), Ports: ports})
	}
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "big", Services: svcs}}}
	body, _ := json.Marshal(cat.Filter(func(string) bool { return true }))
	if len(body) <= MaxControlFrame {
		t.Fatalf("the catalog is %d bytes: make it bigger than 1 MiB for this test", len(body))
	}
	addr, fp := exposingGatewayWith(t, "fwd_big", cat)
	s, err := Dial(context.Background(), addr, &ClientConfig{Token: "fwd_big", Trust: Trust{Fingerprint: fp}})
	if err != nil {
		t.Fatalf("login with a %d-byte catalog: %v", len(body), err)
	}
	defer s.Close()
	n := 0
	for _, r := range s.Catalog().Projects[0].Services {
		n += len(r.Ports)
	}
	if n != 30000 {
		t.Fatalf("%d ports in the welcome, want 30,000", n)
	}
}

func FuzzReadHeader(f *testing.F) {
	seed, _ := AppendHeader(nil, Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 8080})
	f.Add(seed)
	f.Add([]byte{'F', 1, 2, 2, 0, 53, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		tg, err := ReadHeader(r)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the bytes it came from.
		again, err := AppendHeader(nil, tg)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", tg, err)
		}
		if consumed := len(b) - r.Len(); !bytes.Equal(again, b[:consumed]) {
			t.Fatalf("re-encoded % x, read % x", again, b[:consumed])
		}
	})
}

func FuzzReadControl(f *testing.F) {
	var buf bytes.Buffer
	writeControl(&buf, &controlMsg{Type: msgHello, Version: 1, Token: "fwd_x"})
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readControl(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := writeControl(&out, m); err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
	})
}
