//! Lets binaries, tests and benches find libLiteRt.so without LD_LIBRARY_PATH: an rpath to the
//! library folder the build linked against (`LITERT_LIB_DIR`, set by .cargo/config.toml to the
//! folder scripts/setup-litert.sh fills), plus `$ORIGIN/../lib/wardgate` for installed systems.
//! litert-sys emits its own rpath, but a dependency's link arguments do not reach this crate.

fn main() {
    println!("cargo:rerun-if-env-changed=LITERT_LIB_DIR");
    if let Ok(dir) = std::env::var("LITERT_LIB_DIR") {
        if !std::path::Path::new(&dir).join("libLiteRt.so").exists() {
            println!(
                "cargo:warning=libLiteRt.so not found in {dir}; run scripts/setup-litert.sh first"
            );
        }
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib/wardgate");
}
