# dockhand's image: one static binary, the command catalogue and CA certificates on
# an empty base, run as a non-root user.
#
#   docker build -t dockhand .                 the whole build, in the `build` stage
#   make image                                 the same final stage with buildah, from a
#                                              binary built by `make static`: the very
#                                              command of the `build` stage below
#
# Run: mount the config at /config/dockhand.toml (or pass DOCKHAND_CONFIG_TOML) and
# the tokens as environment variables; deploy/dockhand.yaml does both on ECS.

ARG RUST_VERSION=1.95
# `build` compiles here; `prebuilt` takes target/image-root/ from `make static`.
ARG BINARY=build

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first, against stub sources: this layer is rebuilt only when
# Cargo.toml or Cargo.lock change, not on every source change (the AWS SDK alone
# takes minutes).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > benches/dispatch.rs \
 && RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image --locked --target x86_64-unknown-linux-gnu \
 && rm -rf src benches
COPY src src
COPY benches benches
RUN touch src/main.rs src/lib.rs \
 && RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image --locked --target x86_64-unknown-linux-gnu \
 && mkdir -p /out/etc/ssl/certs \
 && cp target/x86_64-unknown-linux-gnu/image/dockhand /out/dockhand \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

FROM scratch AS prebuilt
COPY target/image-root/ /out/

FROM ${BINARY} AS binary

FROM scratch
COPY --from=binary /out/ /
COPY commands /commands
ENV DOCKHAND_COMMANDS=/commands \
    DOCKHAND_LOG_FORMAT=json \
    DOCKHAND_METRICS_ADDR=0.0.0.0:9102
# dockhand looks for ./dockhand.toml: mount it here.
WORKDIR /config
# The distroless "nonroot" ids; nothing in the image needs a name for them.
USER 65532:65532
EXPOSE 9102
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/dockhand", "healthcheck"]
ENTRYPOINT ["/dockhand"]
CMD ["run"]
