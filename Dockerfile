# syntax=docker/dockerfile:1
# The official nginx image the optional `nginx-module` stage builds for.
ARG NGINX_VERSION=1.27.3
# keyhole: a static binary on distroless, running as a non-root user.
#   docker build -t keyhole .
#   docker run -e KEYHOLE_KEYS="$(keyhole keygen)" -p 127.0.0.1:9181:9181 keyhole

FROM rust:1.88-bookworm AS build
ARG TARGET=x86_64-unknown-linux-musl
RUN rustup target add "${TARGET}" \
 && apt-get update \
 && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core ./core
COPY support ./support
COPY src ./src
COPY benches ./benches
COPY nginx ./nginx
RUN cargo build --release --locked --target "${TARGET}" --bin keyhole \
 && cp "target/${TARGET}/release/keyhole" /keyhole \
 && mkdir -p /out/www /out/secrets


# Optional: ngx_http_keyhole_module for the official nginx image (docs/nginx-module.md).
#   docker build --target nginx-module --build-arg NGINX_VERSION=1.27.3 -t keyhole-nginx .
# The module is built from the same nginx version with the image's own configure
# arguments (`nginx -V`), so its --with-compat signature matches. `docker build .`
# without --target still builds keyhole (the last stage).
FROM nginx:${NGINX_VERSION} AS nginx-module-build
ARG NGINX_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The package versions are those of the chosen nginx image's Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates build-essential \
      libclang-dev libpcre2-dev zlib1g-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY --from=rust:1.88-bookworm /usr/local/cargo /usr/local/cargo
COPY --from=rust:1.88-bookworm /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
WORKDIR /src/nginx
# `eval` splits the arguments exactly as nginx -V printed them (quotes included).
# hadolint ignore=SC2046
RUN curl -fsSL "https://nginx.org/download/nginx-${NGINX_VERSION}.tar.gz" | tar xz --strip-components=1 \
 && eval ./configure $(nginx -V 2>&1 | sed -n 's/^configure arguments: //p')
COPY core /src/keyhole/core
COPY nginx-module /src/keyhole/nginx-module
WORKDIR /src/keyhole/nginx-module
RUN NGINX_SOURCE_DIR=/src/nginx NGINX_BUILD_DIR=/src/nginx/objs cargo build --locked --release

FROM nginx:${NGINX_VERSION} AS nginx-module
COPY --from=nginx-module-build /src/keyhole/nginx-module/target/release/libngx_http_keyhole_module.so \
    /etc/nginx/modules/ngx_http_keyhole_module.so

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /keyhole /keyhole
# An empty document root owned by the runtime user, so that a named volume mounted
# there (the demo stack's gallery) starts writable by it.
COPY --from=build --chown=65532:65532 /out/www /srv/keyhole/www
# Likewise for generated secrets: `keyhole keygen --out /var/lib/keyhole/keys` (the
# compose stack's init services) writes into a volume mounted here.
COPY --from=build --chown=65532:65532 /out/secrets /var/lib/keyhole
USER 65532:65532
# Inside a container the auth listener must listen beyond loopback for nginx's
# container to reach it (or share a network namespace, as docker-compose.yml does).
# The admin listener stays on loopback, where HEALTHCHECK reaches it. To scrape
# metrics from outside, set KEYHOLE_ADMIN_LISTEN=0.0.0.0:9182 and
# KEYHOLE_ADMIN_TOKEN_FILE=/run/secrets/keyhole_admin_token (a mounted secret):
# keyhole refuses an admin listener beyond loopback without a token.
ENV KEYHOLE_LISTEN=0.0.0.0:9181 \
    KEYHOLE_ADMIN_LISTEN=127.0.0.1:9182
EXPOSE 9181
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/keyhole", "health"]
ENTRYPOINT ["/keyhole"]
CMD ["serve"]
