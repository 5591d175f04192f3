package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestDownloadSized(t *testing.T) {
	const size = 3*bulkSize + 12345
	s, err := StartSizedSource("127.0.0.1:0", size)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	rate, err := DownloadSized(ctx, Dial, s.Addr(), size, 10*time.Second)
	if err != nil || rate <= 0 {
		t.Fatalf("DownloadSized = %v, %v", rate, err)
	}
	if _, err := DownloadSized(ctx, Dial, s.Addr(), size+1, 10*time.Second); err == nil || !strings.Contains(err.Error(), "ended after") {
		t.Errorf("a short stream passed: %v", err)
	}
}
