package fwdtest

import (
	"encoding/json"
	"fmt"

	"github.com/fwd-dev/fwd/tunnel"
)

// ParseAnnouncement reads the first stdout line of `fwd gateway --output
// json`. A line without a listen address or a fingerprint is an error:
// nothing could reach or pin that gateway; so is an SSH listener without
// its host key's fingerprint, or the other way round.
func ParseAnnouncement(line string) (tunnel.Announcement, error) {
	var a tunnel.Announcement
	if err := json.Unmarshal([]byte(line), &a); err != nil {
		return a, fmt.Errorf("fwdtest: gateway's first line %q: %w", line, err)
	}
	if a.Listen == "" || a.Fingerprint == "" {
		return a, fmt.Errorf("fwdtest: gateway's first line %q has no listen address or fingerprint", line)
	}
	if (a.SSHListen == "") != (a.SSHFingerprint == "") {
		return a, fmt.Errorf("fwdtest: gateway's first line %q has one of ssh_listen and ssh_fingerprint without the other", line)
	}
	return a, nil
}
