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
WORKDIR /cairn
EXPOSE 9090
VOLUME ["/cairn/data"]
ENTRYPOINT ["/usr/local/bin/cairn"]
CMD ["--storage.tsdb.path=/cairn/data"]
