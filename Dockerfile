# wormvault as a container image: a static musl binary on distroless, running as non-root.
#
#   docker build -t wormvault .
#   docker run --rm -v "$PWD:/work" -w /work wormvault bundle verify bundle --trust-root roots.json
#
# Stage 1 builds the same static binary as scripts/build-static.sh; stage 2 holds only that
# binary (no shell, no package manager) on distroless's static image, as the `nonroot` user
# (uid 65532). Credentials come from the environment as for the binary (AWS_*, AZURE_*), never
# from build arguments.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools cmake \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin wormvault \
    && cp target/x86_64-unknown-linux-musl/release/wormvault /wormvault

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /wormvault /usr/local/bin/wormvault
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/wormvault"]
CMD ["--help"]
