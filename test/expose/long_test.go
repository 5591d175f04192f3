package expose

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
)

// longFor is past the 100 s that some proxies cut requests at.
const longFor = 105 * time.Second

// TestLongResponses: a streamed response that lasts longFor, one event
// every 15 s, and a long poll whose headers come only after longFor, both
// through an exposure with the edge's default timeouts. Each runs about
// 105 s (side by side), so -short skips them.
func TestLongResponses(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 105 s: skipped with -short")
	}
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	mux := http.NewServeMux()
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(longFor)
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			if rc.Flush() != nil || time.Now().After(deadline) {
				return
			}
			select {
			case <-time.After(15 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(longFor):
			fmt.Fprint(w, "news")
		case <-r.Context().Done():
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() }) // after the parallel subtests

	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: portOf(ln.Addr().String()), LocalAddr: ln.Addr().String(), Name: "long"})[0])

	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		hc, _ := gw.HTTPClient(true)
		hc.Timeout = longFor + 30*time.Second
		start := time.Now()
		resp, err := hc.Get(r.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("stream: %s", resp.Status)
		}
		sc := bufio.NewScanner(resp.Body)
		events := 0
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				if want := fmt.Sprintf("data: %d", events); sc.Text() != want {
					t.Fatalf("event %q, want %q", sc.Text(), want)
				}
				events++
				if events == 1 && time.Since(start) > 5*time.Second {
					t.Errorf("the first event took %s: it was held back, not streamed", time.Since(start))
				}
			}
		}
		if err := sc.Err(); err != nil || events < 8 || time.Since(start) < longFor {
			t.Fatalf("stream ended after %s with %d events: %v", time.Since(start).Round(time.Second), events, err)
		}
	})
	t.Run("long poll", func(t *testing.T) {
		t.Parallel()
		hc, _ := gw.HTTPClient(false)
		hc.Timeout = longFor + 30*time.Second
		resp, body := get(t, hc, r.URL+"/poll", nil)
		if resp.StatusCode != 200 || body != "news" {
			t.Fatalf("long poll: %s %q", resp.Status, body)
		}
	})
}
