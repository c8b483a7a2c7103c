//! Regenerates the committed protobuf code in `src/remote/pb/` from the `.proto` files in
//! `proto/`, with `protox` (a pure-Rust protobuf compiler) and `prost-build`: no `protoc`, no
//! build script in the main crate.
//!
//! `cargo run --manifest-path proto/gen/Cargo.toml` rewrites the files;
//! `cargo run --manifest-path proto/gen/Cargo.toml -- --check` regenerates into a scratch
//! directory and fails (exit code 1) when the committed files differ.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `.proto` files compiled, relative to `proto/`.
const PROTOS: &[&str] = &[
    "prometheus/types.proto",
    "prometheus/remote.proto",
    "io/prometheus/write/v2/types.proto",
    "opentelemetry/proto/common/v1/common.proto",
    "opentelemetry/proto/resource/v1/resource.proto",
    "opentelemetry/proto/metrics/v1/metrics.proto",
    "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
];

fn generate(proto_dir: &Path, out: &Path) -> Result<Vec<PathBuf>, String> {
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| proto_dir.join(p)).collect();
    let fds = protox::compile(&files, [proto_dir]).map_err(|e| format!("compiling the protos: {e:?}"))?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut cfg = prost_build::Config::new();
    cfg.out_dir(out);
    cfg.compile_fds(fds).map_err(|e| format!("generating Rust: {e}"))?;
    let mut written: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(|e| format!("{}: {e}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && p.file_name().is_some_and(|n| n != "mod.rs"))
        .collect();
    written.sort();
    Ok(written)
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let proto_dir = root.join("proto");
    let committed = root.join("src/remote/pb");
    let check = std::env::args().any(|a| a == "--check");
    let out = if check { std::env::temp_dir().join(format!("cairn-proto-gen-{}", std::process::id())) } else { committed.clone() };
    let generated = match generate(&proto_dir, &out) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("proto-gen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !check {
        for g in &generated {
            println!("wrote {}", g.display());
        }
        return ExitCode::SUCCESS;
    }
    let mut stale = Vec::new();
    for g in &generated {
        let name = g.file_name().unwrap_or_default();
        let fresh = std::fs::read(g).unwrap_or_default();
        let old = std::fs::read(committed.join(name)).unwrap_or_default();
        if fresh != old {
            stale.push(name.to_string_lossy().into_owned());
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    if stale.is_empty() {
        println!("src/remote/pb is up to date ({} files)", generated.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("src/remote/pb is stale: {stale:?}; run `cargo run --manifest-path proto/gen/Cargo.toml`");
        ExitCode::FAILURE
    }
}
