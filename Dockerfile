# syntax=docker/dockerfile:1
#
# The gateway's image: fwd built static, on distroless's static base
# (no shell, no package manager, no libc), running as uid 65532.
#
#   docker build -t fwd-gateway --build-arg VERSION=$(git describe --tags) .
#
# deploy/kubernetes/ runs it; test/deploy checks this file.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
# The modules first, in a layer of their own: a change to the code alone
# does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo: the final stage has no libc), reproducible (-trimpath,
# no VCS stamp: .git is not in the context), cross-compiled for the
# platform asked for rather than emulated.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" \
    -o /out/fwd ./cmd/fwd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fwd /usr/local/bin/fwd
# Numeric, so that Kubernetes can check runAsNonRoot against the image.
USER 65532:65532
# 7443: the tunnel (listen); 9090: health and metrics (metrics_listen).
EXPOSE 7443 9090
ENTRYPOINT ["/usr/local/bin/fwd", "gateway", "--config", "/etc/fwd/gateway.yaml"]
