# syntax=docker/dockerfile:1.7
#
# goaws v0.5.4, the SNS/SQS emulator used by the local stack. Build context is
# the repository root:
#
#   docker build -f deploy/docker/goaws.Dockerfile -t pertitle/goaws .
#
# The image bakes deploy/compose/goaws.yaml in as its default config; compose
# also bind-mounts it so edits need no rebuild. Listens on 4100 (SNS and SQS).

ARG GO_VERSION=1.26

# Native build (no --platform=$BUILDPLATFORM): `go install` refuses GOBIN with
# cross-compilation, and this image is only for local development.
FROM golang:${GO_VERSION}-bookworm AS build
ARG GOAWS_VERSION=v0.5.4
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOBIN=/out go install -trimpath -ldflags "-s -w" "github.com/Admiral-Piett/goaws/app/cmd@${GOAWS_VERSION}" \
 && mv /out/cmd /out/goaws
WORKDIR /src
COPY deploy/docker/httpprobe/ ./
RUN --mount=type=cache,target=/root/.cache/go-build \
    GOWORK=off go build -trimpath -ldflags "-s -w" -o /out/httpprobe .

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/goaws /usr/local/bin/goaws
COPY --from=build /out/httpprobe /usr/local/bin/httpprobe
COPY deploy/compose/goaws.yaml /etc/goaws/goaws.yaml
USER 65532:65532
EXPOSE 4100
# Orchestrators: GET /health on 4100, e.g. ["/usr/local/bin/httpprobe", "http://127.0.0.1:4100/health"].
ENTRYPOINT ["/usr/local/bin/goaws", "-config", "/etc/goaws/goaws.yaml"]
CMD ["Local"]
