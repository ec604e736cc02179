# Builds the linkbolt image from source:
#
#   docker build \
#     --build-arg VERSION=1.2.3 \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#     -t linkbolt .
#
# Releases use Dockerfile.goreleaser instead, which copies the binary that
# GoReleaser has already built.

# The build stage runs on the builder's own platform and cross-compiles for
# the target, so a multi-platform build does not emulate the Go toolchain.
# The tag follows the newest Go 1.26 patch release. The image sets
# GOTOOLCHAIN=local, so the build fails if go.mod's go line names a newer
# release than the pulled image has.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src

# Download modules in their own layer, so that a change to the source alone
# reuses it.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

# TARGETOS and TARGETARCH are set by BuildKit from --platform.
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=none
ARG DATE=unknown

# CGO is off so that the binary is static and runs on distroless/static,
# which has no libc.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
    -ldflags "-s -w \
    -X github.com/linkbolt/linkbolt/cli.version=${VERSION} \
    -X github.com/linkbolt/linkbolt/cli.commit=${COMMIT} \
    -X github.com/linkbolt/linkbolt/cli.date=${DATE}" \
    -o /out/linkbolt .

# An empty directory to copy as /data with the nonroot owner, because the
# final image has no shell to run mkdir or chown.
RUN mkdir /out/data

FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
LABEL org.opencontainers.image.title="linkbolt" \
    org.opencontainers.image.description="URL shortener in one static binary" \
    org.opencontainers.image.version="${VERSION}"

COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/linkbolt /usr/local/bin/linkbolt

ENV LINKBOLT_ADDR=:8080 \
    LINKBOLT_DB=/data/linkbolt.db

# 65532 is the nonroot user of distroless images. A host directory
# bind-mounted on /data must be writable by this uid.
USER 65532:65532
VOLUME /data
EXPOSE 8080

# No HEALTHCHECK is set: distroless has no shell or curl to probe GET /health,
# and the binary has no subcommand that probes it. Orchestrators can probe
# GET /health on port 8080 over HTTP themselves.
ENTRYPOINT ["/usr/local/bin/linkbolt"]
CMD ["serve"]
