#!/usr/bin/env python3
"""Writes yocto/meta-wardgate/recipes-wardgate/wardgate/wardgate-crates.inc from Cargo.lock.

The Yocto cargo class fetches every crate through `crate://` URLs and checks each against a
sha256; this is the list `bitbake -c update_crates wardgate` would produce, generated here so
the layer stays in step with Cargo.lock without a bitbake installation. `--check` exits 1 when
the committed file is stale (CI), naming the first difference.
"""
import argparse
import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCK = ROOT / "Cargo.lock"
OUT = ROOT / "yocto/meta-wardgate/recipes-wardgate/wardgate/wardgate-crates.inc"
REGISTRY = "registry+https://github.com/rust-lang/crates.io-index"


def render(lock_text: str) -> str:
    lock = tomllib.loads(lock_text)
    crates = []
    for pkg in lock.get("package", []):
        source = pkg.get("source")
        if source is None:
            continue  # the workspace's own crates
        if source != REGISTRY:
            raise SystemExit(f"Cargo.lock: {pkg['name']} {pkg['version']} comes from {source}; "
                             "only crates.io sources can be fetched by the layer")
        if "checksum" not in pkg:
            raise SystemExit(f"Cargo.lock: {pkg['name']} {pkg['version']} has no checksum")
        crates.append((pkg["name"], pkg["version"], pkg["checksum"]))
    crates.sort()
    lines = [
        "# Generated from Cargo.lock by packaging/gen-yocto-crates.py; do not edit.",
        "# Equivalent to `bitbake -c update_crates wardgate`.",
        "",
        "# from Cargo.lock",
        'SRC_URI += "\\',
    ]
    lines += [f"    crate://crates.io/{n}/{v} \\" for n, v, _ in crates]
    lines += ['    "', ""]
    lines += [f'SRC_URI[{n}-{v}.sha256sum] = "{c}"' for n, v, c in crates]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = ap.parse_args()
    want = render(LOCK.read_text())
    if args.check:
        have = OUT.read_text() if OUT.exists() else ""
        if have != want:
            for i, (a, b) in enumerate(zip(have.splitlines(), want.splitlines()), 1):
                if a != b:
                    print(f"{OUT.relative_to(ROOT)}:{i}: stale: has {a!r}, Cargo.lock wants {b!r}")
                    break
            else:
                print(f"{OUT.relative_to(ROOT)}: stale (length differs); run {sys.argv[0]}")
            return 1
        print(f"{OUT.relative_to(ROOT)}: up to date ({want.count('crate://')} crates)")
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(want)
    print(f"wrote {OUT.relative_to(ROOT)} ({want.count('crate://')} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
