package fwdtest

import "testing"

func TestParseAnnouncementSSH(t *testing.T) {
	a, err := ParseAnnouncement(`{"fingerprint":"sha256:ab","listen":"127.0.0.1:4433","projects":["shop"],"ssh_fingerprint":"SHA256:xyz","ssh_listen":"127.0.0.1:2222"}`)
	if err != nil || a.SSHFingerprint != "SHA256:xyz" || a.SSHListen != "127.0.0.1:2222" {
		t.Fatalf("ParseAnnouncement = %+v, %v", a, err)
	}
	for _, bad := range []string{
		`{"fingerprint":"sha256:ab","listen":"127.0.0.1:4433","projects":[],"ssh_listen":"127.0.0.1:2222"}`,
		`{"fingerprint":"sha256:ab","listen":"127.0.0.1:4433","projects":[],"ssh_fingerprint":"SHA256:xyz"}`,
	} {
		if _, err := ParseAnnouncement(bad); err == nil {
			t.Errorf("ParseAnnouncement(%q) accepted it", bad)
		}
	}
}
