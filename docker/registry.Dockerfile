# Registry image: `anip-registry` on an empty (scratch) base.
#
# Nothing is compiled here. The build context is a staging directory that `cargo xtask images`
# prepares (see docker/README.md):
#
#   CONTEXT/anip-registry   the static binary (mode 0755), built on the host with
#       RUSTFLAGS="-C target-feature=+crt-static" \
#         cargo build --release --target x86_64-unknown-linux-gnu --bin anip-registry
#   CONTEXT/rootfs/etc/{passwd,group,nsswitch.conf} copied from docker/rootfs/
#   CONTEXT/rootfs/etc/ssl/certs/ca-certificates.crt  the build host's CA bundle (Debian
#       ca-certificates), for outbound TLS (docker/README.md: which roots are used)
#
# Build (nothing is pulled):
#   buildah --storage-driver vfs bud --isolation chroot --pull=never \
#     --build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=... \
#     -t anip-registry:VERSION -f docker/registry.Dockerfile CONTEXT
#
# No secret is baked in: every credential arrives through the environment at run time.
#
# Health: no HEALTHCHECK. A scratch image has no shell and no curl, and the binary has no
# health-check mode yet. Kubernetes probes /registry-api/v1/readyz and /registry-api/v1/healthz over HTTP from the
# kubelet (deploy/k8s); docker/compose.yaml runs `anip-registry healthcheck
# http://127.0.0.1:8200/registry-api/v1/readyz`, the subcommand docker/README.md specifies (follow-up work).
FROM scratch

ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=unknown

LABEL org.opencontainers.image.title="anip-registry" \
      org.opencontainers.image.description="ANIP Registry: signed package and template distribution" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY rootfs/ /
COPY anip-registry /usr/local/bin/anip-registry

# The nonroot user of rootfs/etc/passwd; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8200
# actix-web drains in-flight requests on SIGTERM (30 s at most) and exits; PID 1 handles it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/anip-registry"]
