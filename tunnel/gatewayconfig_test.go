package tunnel

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testHash is the SHA-256 of "test".
const testHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestHashToken(t *testing.T) {
	if got := HashToken("test"); got != testHash {
		t.Errorf("HashToken(test) = %s, want %s", got, testHash)
	}
	if got, want := HashToken(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("HashToken(\"\") = %s, want %s", got, want)
	}
}

func TestNewToken(t *testing.T) {
	format := regexp.MustCompile(`^fwd_[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 1000 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(tok) {
			t.Fatalf("NewToken() = %q, want fwd_ and 43 URL-safe characters", tok)
		}
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "fwd_")); err != nil || len(b) != 32 {
			t.Fatalf("NewToken() = %q: %d bytes of entropy, %v", tok, len(b), err)
		}
		if seen[tok] {
			t.Fatalf("NewToken() repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	if got := (Limits{}).withDefaults(); got != DefaultLimits() {
		t.Fatalf("zero limits filled to %+v, want the defaults %+v", got, DefaultLimits())
	}
	set := Limits{MaxSessions: 3, IdleTimeout: time.Minute, DialTimeout: time.Second}
	got := set.withDefaults()
	if got.MaxSessions != 3 || got.IdleTimeout != time.Minute || got.DialTimeout != time.Second || got.MaxStreamsPerSession != DefaultLimits().MaxStreamsPerSession {
		t.Fatalf("%+v filled to %+v: set fields must stay, zero ones get defaults", set, got)
	}
}
