package dockerports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// portList prints ports as "number/protocol/name ...", easy to compare.
func portList(ports []Port) string {
	var s []string
	for _, p := range ports {
		s = append(s, fmt.Sprintf("%d/%s/%s", p.Number, p.Protocol, p.Name))
	}
	return strings.Join(s, " ")
}

func TestFromDockerfile(t *testing.T) {
	cases := []struct {
		name       string
		dockerfile string
		opts       DockerfileOptions
		want       string // ports, or the error's text with its line
		stage      string
		note       string // a note that must be there
	}{
		{name: "bare port is HTTP", dockerfile: "FROM node:22\nEXPOSE 3000\n",
			want: "3000/HTTP/3000", stage: "#1", note: "stage #1 is FROM node:22, whose own EXPOSE lines are not read"},
		{name: "udp and tcp mix", dockerfile: "FROM coredns/coredns\nEXPOSE 53/udp 53/tcp 8080 9153/TCP\n",
			want: "53/TCP/dns 53/UDP/dns-udp 8080/HTTP/http-alt 9153/TCP/9153"},
		{name: "range", dockerfile: "FROM scratch\nEXPOSE 8000-8002/tcp 60000-60001/udp\n",
			want: "8000/TCP/8000 8001/TCP/8001 8002/TCP/8002 60000/UDP/60000 60001/UDP/60001"},
		{name: "multi-stage: the last stage only", dockerfile: "FROM golang:1.26 AS build\nEXPOSE 9999\nRUN go build ./...\n\nFROM alpine:3.22\nCOPY --from=build /app /app\nEXPOSE 80\n",
			want: "80/HTTP/http", stage: "#2"},
		{name: "multi-stage: a stage built FROM another keeps its ports", dockerfile: "FROM postgres:17 AS base\nEXPOSE 5432/tcp\nFROM base AS final\nEXPOSE 9187/tcp\n",
			want: "5432/TCP/postgres 9187/TCP/9187", stage: "final"},
		{name: "target", dockerfile: "FROM golang:1.26 AS Dev\nEXPOSE 2345/tcp 8080\nFROM alpine AS prod\nEXPOSE 8080\n", opts: DockerfileOptions{Target: "dev"},
			want: "2345/TCP/2345 8080/HTTP/http-alt", stage: "dev"},
		{name: "unknown target", dockerfile: "FROM a AS one\nFROM b AS two\n", opts: DockerfileOptions{Target: "three"},
			want: `--target "three": Dockerfile has no such stage: use one of one, two`},
		{name: "global ARG default, redeclared in the stage", dockerfile: "ARG PORT=8080\nFROM nginx\nARG PORT\nEXPOSE ${PORT}\n",
			want: "8080/HTTP/http-alt"},
		{name: "ARG overridden by a build-arg", dockerfile: "ARG PORT=8080\nFROM nginx\nARG PORT\nEXPOSE $PORT/tcp\n", opts: DockerfileOptions{BuildArgs: map[string]string{"PORT": "9000"}},
			want: "9000/TCP/9000"},
		{name: "stage ARG default with a fallback", dockerfile: "FROM python:3.13\nARG APP_PORT=5000\nEXPOSE ${APP_PORT:-8000} ${UNSET:-8001}/udp\n",
			want: "5000/HTTP/5000 8001/UDP/8001"},
		{name: "global ARG not redeclared is not seen", dockerfile: "ARG PORT=8080\nFROM nginx\nEXPOSE 80 $PORT\n",
			want: "80/HTTP/http", note: "EXPOSE $PORT uses $PORT, which is not set: pass --build-arg PORT=PORT"},
		{name: "ENV, one word several ports", dockerfile: "FROM x\nENV WEB=5000 PORTS=\"9090/tcp 5353/udp\"\nEXPOSE $WEB $PORTS\n",
			want: "5000/HTTP/5000 5353/UDP/mdns 9090/TCP/prometheus"},
		{name: "ENV values are expanded before they are set", dockerfile: "FROM x\nENV P=1000\nENV P=2000 Q=$P\nEXPOSE $P $Q\n",
			want: "1000/HTTP/1000 2000/HTTP/2000"},
		{name: "comments and line continuations", dockerfile: "# syntax=docker/dockerfile:1\nFROM redis:8\n# a comment\nEXPOSE 6379/tcp \\\n    # a comment inside the instruction\n    16379/tcp \\\n\n    26379/tcp\n",
			want: "6379/TCP/redis 16379/TCP/16379 26379/TCP/26379"},
		{name: "syntax error: # after an instruction is not a comment", dockerfile: "FROM redis:8 # the cache\n",
			want: "Dockerfile:1: FROM requires either one or three arguments"},
		{name: "lower-case instructions", dockerfile: "from redis:8\nexpose 6379/tcp\n",
			want: "6379/TCP/redis"},
		{name: "escape directive", dockerfile: "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nEXPOSE 80 `\n  443/tcp\n",
			want: "80/HTTP/http 443/TCP/https"},
		{name: "SCTP is left out", dockerfile: "FROM x\nEXPOSE 3868/sctp 3868/tcp\n",
			want: "3868/TCP/3868", note: "EXPOSE 3868/sctp is SCTP"},
		{name: "bare well-known port gets a note", dockerfile: "FROM postgres:17\nEXPOSE 5432\n",
			want: "5432/HTTP/postgres", note: "5432 is usually postgres: write EXPOSE 5432/tcp"},
		{name: "syntax error: unknown instruction", dockerfile: "FROM alpine\n\nEXPOSEE 80\n",
			want: "Dockerfile:3: unknown instruction: EXPOSEE"},
		{name: "syntax error: EXPOSE without ports", dockerfile: "FROM alpine\nEXPOSE\n",
			want: "Dockerfile:2: EXPOSE requires at least one argument"},
		{name: "syntax error: a bad port", dockerfile: "FROM alpine\nRUN true\nEXPOSE 80 70000/tcp\n",
			want: `Dockerfile:3: EXPOSE "70000/tcp": "70000" is not a port number (1-65535)`},
		{name: "syntax error: no FROM", dockerfile: "EXPOSE 80\n",
			want: "Dockerfile:1: no build stage in current context"},
		{name: "syntax error: FROM with two words", dockerfile: "FROM alpine latest\n",
			want: "Dockerfile:1: FROM requires either one or three arguments"},
		{name: "no EXPOSE", dockerfile: "FROM alpine\nCMD [\"true\"]\n",
			want: "dockerports: no EXPOSE in stage #1 of Dockerfile"},
	}
	if n := len(cases); n < 12 {
		t.Fatalf("only %d Dockerfiles", n)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Dockerfile")
			if err := os.WriteFile(path, []byte(c.dockerfile), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := FromDockerfile(f, "Dockerfile", c.opts)
			got := portList(res.Ports)
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, c.want) || (err == nil && got != c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if c.stage != "" && res.Stage != c.stage {
				t.Errorf("stage %q, want %q", res.Stage, c.stage)
			}
			if c.note != "" && !strings.Contains(strings.Join(res.Notes, "\n"), c.note) {
				t.Errorf("notes %q, want one with %q", res.Notes, c.note)
			}
			if strings.HasPrefix(c.name, "syntax error") {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Line == 0 {
					t.Errorf("%v is not a *SyntaxError with a line", err)
				}
			}
		})
	}
}
