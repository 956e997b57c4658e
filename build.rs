// The watch page embeds hls.js from npm; say how to get it when it is missing.
fn main() {
    let hls = "web/node_modules/hls.js/dist/hls.min.js";
    println!("cargo:rerun-if-changed={hls}");
    println!("cargo:rerun-if-changed=web/package-lock.json");
    println!("cargo:rerun-if-changed=migrations");
    if !std::path::Path::new(hls).exists() {
        panic!("{hls} is missing: run `npm ci --prefix web` (./dev run and ./dev test do this)");
    }
}
