//! `seeds <target> <dir>`: writes the seed inputs built in code for `target` into `dir`
//! (the repository's own files are copied by `cargo xtask fuzz`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, dir] = args.as_slice() else {
        eprintln!("usage: seeds <target> <dir>");
        std::process::exit(2)
    };
    std::fs::create_dir_all(dir).expect("corpus directory");
    for (name, bytes) in stackwright_fuzz::generated_seeds(target) {
        std::fs::write(std::path::Path::new(dir).join(name), bytes).expect("seed written");
    }
}
