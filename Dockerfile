# syntax=docker/dockerfile:1
# zdm's images, used by docker-compose.yml.
#
#   docker build -t zdm .                                  every zdm program (the default)
#   docker build --target temporal -t zdm-temporal .       the Temporal dev server and CLI
#
# The default image holds /usr/local/bin/zdm, zdm-worker, zdm-slackbot and zdm-demoapp,
# static binaries (no cgo) on Alpine, whose busybox wget serves the health checks, and the
# example migrations in /zdm/examples. It runs zdm-worker unless told otherwise.

ARG GO_VERSION=1.26
ARG ALPINE_VERSION=3.22

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Modules first, so that a change to the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/bin/zdm ./starter \
 && go build -trimpath -ldflags="-s -w" -o /out/bin/zdm-worker ./worker \
 && go build -trimpath -ldflags="-s -w" -o /out/bin/zdm-slackbot ./slackbot \
 && go build -trimpath -ldflags="-s -w" -o /out/bin/zdm-demoapp ./demoapp

# The Temporal CLI at the version zdm's tests run against (make bin/temporal), built from
# source: its dev server keeps workflows in one SQLite file and serves the Web UI.
FROM golang:${GO_VERSION}-alpine AS temporal-cli
ARG TEMPORAL_CLI_VERSION=v1.5.1
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags="-s -w" \
    github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}

FROM alpine:${ALPINE_VERSION} AS temporal
RUN apk add --no-cache ca-certificates \
 && adduser -D -u 1000 temporal \
 && mkdir /data && chown temporal:temporal /data
COPY --from=temporal-cli /out/temporal /usr/local/bin/temporal
# A named volume mounted on /data starts with this directory's owner, so the server can
# write its database there without running as root.
USER temporal
WORKDIR /data
EXPOSE 7233 8233
ENTRYPOINT ["temporal"]
CMD ["server", "start-dev", "--ip", "0.0.0.0", "--db-filename", "/data/temporal.db"]

FROM alpine:${ALPINE_VERSION} AS zdm
RUN apk add --no-cache ca-certificates tzdata \
 && adduser -D -u 10001 zdm
COPY --from=build /out/bin/ /usr/local/bin/
COPY examples/ /zdm/examples/
USER zdm
WORKDIR /zdm
EXPOSE 9090 3000
CMD ["zdm-worker"]
