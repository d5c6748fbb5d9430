# CLI image: `anip` on an empty (scratch) base.
#
# Built by `cargo xtask images` (docker/README.md). Nothing is compiled here: the build context
# is a staging directory (target/images/context/anip) holding
#
#   anip   the static binary (mode 0755), built on the host with
#       RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image \
#         --target x86_64-unknown-linux-gnu --bin anip
#   rootfs/etc/{passwd,group,nsswitch.conf}  copied from docker/rootfs/
#   rootfs/etc/ssl/certs/ca-certificates.crt  the build host's CA bundle (Debian
#       ca-certificates), for outbound TLS (docker/README.md: which roots are used)
#
# Nothing is pulled; the builder is docker, podman or buildah, e.g.
#   buildah --storage-driver vfs bud --isolation chroot --pull=never --format docker \
#     --build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=... \
#     -t anip:VERSION -f docker/anip.Dockerfile CONTEXT
#
# No secret is baked in: every credential arrives through the environment at run time.
#
# A command, not a server: no port, no health check. Example:
#   docker run --rm anip:VERSION package verify \
#     --registry-url https://registry.example.com/registry-api/v1 \
#     --package flight-service@1.0.0 --trusted-key-id KEY_ID
FROM scratch

ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=unknown

LABEL org.opencontainers.image.title="anip" \
      org.opencontainers.image.description="The anip command line: keygen, package verify, publish, pull" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY rootfs/ /
COPY anip /usr/local/bin/anip

# The nonroot user of rootfs/etc/passwd; numeric so that runAsNonRoot can verify it.
USER 65532:65532
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/anip"]
