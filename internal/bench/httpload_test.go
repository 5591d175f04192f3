package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHTTPRate(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"http", false}, {"https", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var hosts, snis = make(chan string, 1), make(chan string, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case hosts <- r.Host:
				default:
				}
				if r.TLS != nil {
					select {
					case snis <- r.TLS.ServerName:
					default:
					}
				}
				fmt.Fprint(w, "ok\n")
			}))
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			addr := srv.Listener.Addr().String()
			_, port, _ := net.SplitHostPort(addr)
			scheme := "http"
			if tc.tls {
				scheme = "https"
			}
			l := HTTPLoad{URL: scheme + "://app.bench.test:" + port + "/", Addr: addr, Clients: 4, Duration: 300 * time.Millisecond, Body: "ok\n"}
			rate, failed, err := HTTPRate(context.Background(), l)
			if err != nil || failed != 0 || rate <= 0 {
				t.Fatalf("HTTPRate = %v, %d failed, %v", rate, failed, err)
			}
			if h := <-hosts; h != "app.bench.test:"+port {
				t.Errorf("Host %q", h)
			}
			if tc.tls {
				if sni := <-snis; sni != "app.bench.test" {
					t.Errorf("server name %q", sni)
				}
			}
			l.Body = "other\n"
			l.Duration = 50 * time.Millisecond
			if _, failed, err := HTTPRate(context.Background(), l); failed == 0 || err == nil {
				t.Errorf("a wrong body passed: %d failed, %v", failed, err)
			}
		})
	}
	if _, _, err := HTTPRate(context.Background(), HTTPLoad{URL: "http://x/", Addr: "192.0.2.1:80", Clients: 1, Duration: time.Millisecond}); err == nil {
		t.Error("a non-loopback address was dialled")
	}
}
