# syntax=docker/dockerfile:1
#
# The replace-metadata image: a static binary on distroless, run as a
# non-root user, with CA certificates for https://api.clerk.com.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     -t registry.example.com/replace-metadata:v0.1.0 .
#   docker run --rm registry.example.com/replace-metadata:v0.1.0 version
#
# The tool writes only under report_dir, so the image runs with a read-only
# root filesystem once report_dir is on a volume (deploy/kubernetes/).

ARG GO_VERSION=1.26

# Build on the builder's own platform and cross-compile: no emulation for
# multi-platform builds (docker buildx build --platform linux/amd64,linux/arm64).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Use the image's Go; never download another toolchain.
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/replace-metadata ./cmd/replace-metadata
# When the binary can run here, check that the version was stamped.
ARG BUILDPLATFORM TARGETPLATFORM
RUN if [ "$BUILDPLATFORM" = "$TARGETPLATFORM" ]; then \
      /out/replace-metadata version | grep -F "replace-metadata ${VERSION} ("; \
    fi

# static: no libc (the binary needs none), CA certificates, tzdata, and a
# nonroot user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="replace-metadata" \
      org.opencontainers.image.description="Bulk-apply Clerk user metadata from CSV or NDJSON" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/replace-metadata /usr/local/bin/replace-metadata
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
# Relative paths (./config.yaml, report_dir "runs") resolve under /data:
# mount a volume there, e.g. docker run -v "$PWD:/data" -u "$(id -u)" ...
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/replace-metadata"]
CMD ["help"]
