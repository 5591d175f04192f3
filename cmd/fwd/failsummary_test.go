package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/forward"
)

func TestFailureSummaryFewAreRows(t *testing.T) {
	results := []forward.Result{{Error: &forward.ResultError{Message: "shop/api http: listen tcp 127.0.0.1:80: bind: permission denied"}}, {Data: &forward.Forward{}}}
	rows, lines := failureSummary(results)
	if len(rows) != 1 || len(lines) != 0 {
		t.Fatalf("rows %q, lines %q", rows, lines)
	}
}

func TestFailureSummaryManyIsOneLine(t *testing.T) {
	var results []forward.Result
	for i := range 20000 {
		results = append(results, forward.Result{Data: &forward.Forward{ID: fmt.Sprint(i)}})
	}
	for i := range 10000 {
		msg := fmt.Sprintf("big/svc-%05d http: listen tcp 127.1.2.3:8080: socket: too many open files", 20000+i)
		results = append(results, forward.Result{Error: &forward.ResultError{Message: msg}})
	}
	rows, lines := failureSummary(results)
	if len(rows) != 0 || len(lines) != 1 {
		t.Fatalf("%d rows, lines %q", len(rows), lines)
	}
	for _, want := range []string{"10000 of 30000 ports not forwarded: too many open files", "big/svc-20000 http, big/svc-20001 http, big/svc-20002 http and 9997 more", "ulimit -n"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("summary %q lacks %q", lines[0], want)
		}
	}
}
