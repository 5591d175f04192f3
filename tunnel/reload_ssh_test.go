package tunnel

import (
	"testing"
	"time"
)

// A reload checks SSH listener logins again: a user whose projects grow
// reaches the new ones at once, and a user removed is disconnected.
func TestReloadRechecksSSHLogins(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	c := f.login(t, "alice", f.alice)
	echoThrough(t, c, "api.shop:8080", "before")
	if conn, err := c.Dial("tcp", "db.other:5432"); err == nil {
		conn.Close()
		t.Fatal("alice reached project other before a reload gave it to her")
	}

	wider := *f.gw.Config
	wider.Users = append([]User(nil), wider.Users...)
	wider.Users[0].Projects = []string{"shop", "other"}
	f.gw.Reload(&wider)
	conn, err := c.Dial("tcp", "db.other:5432")
	if err != nil {
		t.Fatalf("alice after her projects grew: %v", err)
	}
	conn.Close()

	without := wider
	without.Users = []User{wider.Users[1], wider.Users[2]}
	f.gw.Reload(&without)
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("alice's SSH connection still up 5s after a reload removed her")
	}
	if c2, err := f.dial("alice", f.alice, nil); err == nil {
		c2.Close()
		t.Fatal("a removed user logs in again")
	}
}
