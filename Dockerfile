# chatload's container image: a static binary on distroless, as a non-root user.
#
#   docker build -t chatload:dev \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#   docker run --rm chatload:dev test
#
# The binary is built by scripts/build.sh, the same script .ci/run builds and checks
# with (static, stamped): CI cannot run docker build, so that is what it tests.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
RUN VERSION="$VERSION" COMMIT="$COMMIT" DATE="$DATE" scripts/build.sh /out/chatload \
	&& /out/chatload version

# Static binary, CA certificates (for --transport tls against real servers), no shell,
# user nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatload /usr/local/bin/chatload
USER 65532:65532
# chatload watch --metrics-addr :9464 (deploy/)
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/chatload"]
CMD ["--help"]
