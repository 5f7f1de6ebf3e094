# Kyutai's moshi-server (Rust, CUDA) for speech-to-text, built from its published crate.
# Used by compose.example.yml; not built in CI. Needs an NVIDIA GPU and the NVIDIA container
# toolkit on the host. The first build compiles for a long while; the first start downloads the
# model weights into the Hugging Face cache volume.
FROM nvidia/cuda:12.6.3-devel-ubuntu24.04
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates curl build-essential pkg-config libssl-dev cmake python3-dev \
  && rm -rf /var/lib/apt/lists/*
# The Rust toolchain from the official Rust image (Debian bookworm; runs on Ubuntu 24.04's newer glibc).
COPY --from=rust:1-bookworm /usr/local/cargo /usr/local/cargo
COPY --from=rust:1-bookworm /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
# The version the STT client was checked against (see src/stt/README.md).
RUN cargo install --locked --features cuda moshi-server@0.6.4
WORKDIR /srv
EXPOSE 8080
# moshi-server has no /health route; /api/build_info answers once the models are loaded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15m --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/api/build_info || exit 1
ENTRYPOINT ["moshi-server", "worker"]
CMD ["--config", "/config/stt.toml", "--port", "8080"]
