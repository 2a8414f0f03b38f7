# bluejay as an image: a static binary on scratch, run as a non-root user.
#
#   docker build -t bluejay .
#   docker run --rm -v "$PWD/examples/docker:/etc/bluejay:ro" bluejay validate -c /etc/bluejay/bluejay.yaml
#
# serve against the host's Docker (see README, "Deploy containers on one
# host"): mount the socket and run with the socket's group, e.g.
#   --group-add "$(stat -c %g /var/run/docker.sock)" -v /var/run/docker.sock:/var/run/docker.sock
#
# GO_IMAGE is the build stage's toolchain; the stage uses no shell (RUN in
# exec form), so any image with go on PATH builds it.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY . .
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN ["go", "build", "-ldflags=-s -w", "-o", "/out/bluejay", "./cmd/bluejay"]
# The store's directory, owned by the user below (WORKDIR makes it).
WORKDIR /out/data

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/bluejay /bluejay
COPY --from=build --chown=65532:65532 /out/data /var/lib/bluejay
USER 65532:65532
WORKDIR /var/lib/bluejay
ENTRYPOINT ["/bluejay"]
CMD ["serve", "-c", "/etc/bluejay/bluejay.yaml"]
