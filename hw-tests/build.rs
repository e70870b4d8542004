//! The test programs link Wardgate's vision code and so libLiteRt.so; like the main crate's
//! build.rs, give them an rpath to the folder the build linked against (`LITERT_LIB_DIR`), since
//! a dependency's link arguments do not reach this crate.

fn main() {
    println!("cargo:rerun-if-env-changed=LITERT_LIB_DIR");
    if let Ok(dir) = std::env::var("LITERT_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
