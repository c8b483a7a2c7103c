# Build stage: the release binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/cairn

# Run stage: a slim image with just the binary.
FROM debian:bookworm-slim
RUN useradd --system --home /cairn cairn && mkdir -p /cairn/data && chown cairn /cairn/data
COPY --from=build /src/target/release/cairn /usr/local/bin/cairn
USER cairn
# Transparent huge pages roughly double the allocator's resident memory for little speed; the
# binary never asks for them, and this also opts out where the host enables them for all.
ENV MIMALLOC_ALLOW_THP=0
WORKDIR /cairn
EXPOSE 9090
VOLUME ["/cairn/data"]
ENTRYPOINT ["/usr/local/bin/cairn"]
CMD ["--storage.tsdb.path=/cairn/data"]
