# Studio image: `studio-api` on an empty (scratch) base.
#
# Built by `cargo xtask images` (docker/README.md). Nothing is compiled here: the build context
# is a staging directory (target/images/context/anip-studio) holding
#
#   studio-api   the static binary (mode 0755), built on the host with
#       RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image \
#         --target x86_64-unknown-linux-gnu --bin studio-api
#   rootfs/etc/{passwd,group,nsswitch.conf}  copied from docker/rootfs/
#   rootfs/etc/ssl/certs/ca-certificates.crt  the build host's CA bundle (Debian
#       ca-certificates), for outbound TLS (docker/README.md: which roots are used)
#
# Nothing is pulled; the builder is docker, podman or buildah, e.g.
#   buildah --storage-driver vfs bud --isolation chroot --pull=never --format docker \
#     --build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=... \
#     -t anip-studio:VERSION -f docker/studio.Dockerfile CONTEXT
#
# No secret is baked in: every credential arrives through the environment at run time.
#
# Health: a scratch image has no shell and no curl, so the binary checks itself
# (`studio-api healthcheck URL`: one GET, exit 0 on 200). HEALTHCHECK is a Docker-format field:
# build with `--format docker` to keep it (OCI images drop it). It probes readiness on the
# default port 8100; a container that moves the port (STUDIO_API_PORT) overrides it, as
# docker/compose.yaml does. Kubernetes ignores it and probes /api/readyz and /api/health
# over HTTP from the kubelet (deploy/k8s).
FROM scratch

ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=unknown

LABEL org.opencontainers.image.title="studio-api" \
      org.opencontainers.image.description="ANIP Studio: authoring service and UI" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY rootfs/ /
COPY studio-api /usr/local/bin/studio-api

# The nonroot user of rootfs/etc/passwd; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8100
# actix-web drains in-flight requests on SIGTERM (30 s at most) and exits; PID 1 handles it.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/studio-api", "healthcheck", "http://127.0.0.1:8100/api/readyz"]
ENTRYPOINT ["/usr/local/bin/studio-api"]
