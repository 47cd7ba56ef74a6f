# syntax=docker/dockerfile:1
#
# lumberwatch: a small runtime image (distroless, glibc, no shell) running as a
# non-root user (65532). Build: docker build -t lumberwatch .
#
# Capabilities: the image needs none for file, container-log, stdin and syslog inputs on
# ports >= 1024 (Docker lets unprivileged processes bind low ports inside a container's
# own network namespace; with --network host, syslog on 514 needs NET_BIND_SERVICE).
# Only `type: flows` needs NET_RAW and only `type: conntrack` needs NET_ADMIN, and both
# need the host's traffic (--network host). Docker gives a non-root user no ambient
# capabilities, so run those as root in the container with every other capability
# dropped:
#   docker run --network host --user 0:0 --cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN \
#     --security-opt no-new-privileges --read-only \
#     -v /etc/lumberwatch:/etc/lumberwatch:ro -v lumberwatch-data:/var/lib/lumberwatch lumberwatch
# (docker-compose.yml does the same for its agent, which captures the rig's traffic.)

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin lumberwatch \
    && install -D -m 0755 target/release/lumberwatch /out/usr/bin/lumberwatch \
    && install -d -m 0750 /out/etc/lumberwatch \
    && install -d -m 0700 /out/var/lib/lumberwatch
COPY packaging/lumberwatch.yml /out/etc/lumberwatch/lumberwatch.yml

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder --chown=65532:65532 /out/ /
USER 65532:65532
WORKDIR /var/lib/lumberwatch
VOLUME ["/var/lib/lumberwatch"]
# No HEALTHCHECK: the image has no shell or curl, and `run` exits non-zero when an
# input fails, so Docker's restart policy is the check. Nothing listens by default;
# syslog inputs listen where their config says (e.g. 5514/udp and 5514/tcp).
ENTRYPOINT ["/usr/bin/lumberwatch"]
CMD ["run", "-c", "/etc/lumberwatch/lumberwatch.yml"]
