# Runtime image: `anip-runtime` on an empty (scratch) base.
#
# Built by `cargo xtask images` (docker/README.md). Nothing is compiled here: the build context
# is a staging directory (target/images/context/anip-runtime) holding
#
#   anip-runtime   the static binary (mode 0755), built on the host with
#       RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image \
#         --target x86_64-unknown-linux-gnu --bin anip-runtime
#   rootfs/etc/{passwd,group,nsswitch.conf}  copied from docker/rootfs/
#   rootfs/etc/ssl/certs/ca-certificates.crt  the build host's CA bundle (Debian
#       ca-certificates), for outbound TLS (docker/README.md: which roots are used)
#
# Nothing is pulled; the builder is docker, podman or buildah, e.g.
#   buildah --storage-driver vfs bud --isolation chroot --pull=never --format docker \
#     --build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=... \
#     -t anip-runtime:VERSION -f docker/runtime.Dockerfile CONTEXT
#
# No secret is baked in: every credential arrives through the environment at run time.
#
# Health: a scratch image has no shell and no curl, so the binary checks itself
# (`anip-runtime healthcheck URL`: one GET, exit 0 on 200). HEALTHCHECK is a Docker-format field:
# build with `--format docker` to keep it (OCI images drop it). It probes readiness on the
# default port 9100; a container that moves the port (ANIP_RUNTIME_PORT) overrides it, as
# docker/compose.yaml does. Kubernetes ignores it and probes /readyz and /healthz
# over HTTP from the kubelet (deploy/k8s).
FROM scratch

ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=unknown

LABEL org.opencontainers.image.title="anip-runtime" \
      org.opencontainers.image.description="ANIP runtime: serves a package's capabilities to agents" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY rootfs/ /
COPY anip-runtime /usr/local/bin/anip-runtime

# The nonroot user of rootfs/etc/passwd; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 9100
# actix-web drains in-flight requests on SIGTERM (30 s at most) and exits; PID 1 handles it.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/anip-runtime", "healthcheck", "http://127.0.0.1:9100/readyz"]
ENTRYPOINT ["/usr/local/bin/anip-runtime"]
