use k8scop_grammar::{parse, SourceFile};

fn render(name: &str, text: &str) -> String {
    let file = SourceFile::new(name, text);
    match parse(&file) {
        Ok(f) => format!("OK {:#?}", f.items),
        Err(diags) => {
            let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor()).with_width(100);
            let mut out = String::new();
            for d in diags { handler.render_report(&mut out, &d).unwrap(); }
            out
        }
    }
}

#[test]
fn scratch() {
    let input = std::fs::read_to_string("/tmp/scratch.rules").unwrap();
    for case in input.split("\n----\n") {
        println!("=== {case}\n{}", render("x.rules", case));
    }
}

#[test]
fn deep() {
    let cases = vec![
        format!("rule r {{ when {}x == 1{} }}", "(".repeat(100000), ")".repeat(100000)),
        format!("rule r {{ when {}x == 1{} }}", "(".repeat(70), ")".repeat(70)),
        format!("rule r {{ when {}x }}", "not ".repeat(100000)),
        format!("rule r {{ when x{} }}", " and x".repeat(100000)),
        format!("rule r {{ when {}x{} }}", "f(".repeat(10000), ")".repeat(10000)),
        format!("test \"t\" {{ events [ {{\"a\": {}1{} }} ] }}", "[".repeat(100000), "]".repeat(100000)),
        format!("test \"t\" {{ events [ {{\"a\": {}1{} }} ] }}", "[".repeat(200), "]".repeat(200)),
    ];
    for c in cases {
        let t = std::time::Instant::now();
        let r = render("d.rules", &c);
        println!("TIME {:?}", t.elapsed());
        println!("{}", &r[..r.len().min(600)]);
    }
}

#[test]
fn chain_time() {
    for n in [10000usize, 20000, 40000] {
        let c = format!("rule r {{ when x{} }}", " and x".repeat(n));
        let file = SourceFile::new("d", c);
        let t = std::time::Instant::now();
        let r = parse(&file);
        println!("N {n} parse {:?} ok={}", t.elapsed(), r.is_ok());
        let c = format!("rule r {{ when x == 1{} }}", " and x == 1".repeat(n));
        let file = SourceFile::new("d", c);
        let t = std::time::Instant::now();
        let r = parse(&file);
        println!("N {n} cmp parse {:?} ok={}", t.elapsed(), r.is_ok());
    }
}

#[test]
fn big_time() {
    let ex = std::fs::read_to_string("/tmp/example.rules").unwrap();
    let big = ex.repeat(100);
    let file = SourceFile::new("d", big.clone());
    let t = std::time::Instant::now();
    let r = parse(&file);
    println!("BIG {} bytes parse {:?} ok={}", big.len(), t.elapsed(), r.is_ok());
}

#[test]
fn example_time() {
    let ex = std::fs::read_to_string("/tmp/example.rules").unwrap();
    let t = std::time::Instant::now();
    for _ in 0..100 { let _ = parse(&SourceFile::new("d", ex.clone())); }
    println!("EX parse x100 {:?}", t.elapsed());
    let bad = format!("{}\nrule x {{ when = }}", ex);
    let t = std::time::Instant::now();
    for _ in 0..100 { let _ = parse(&SourceFile::new("d", bad.clone())); }
    println!("BAD parse x100 {:?}", t.elapsed());
    let file = SourceFile::new("d", bad.clone());
    let d = parse(&file).unwrap_err();
    let t = std::time::Instant::now();
    for _ in 0..100 { let _ = render("d", &bad); }
    println!("BAD parse+render x100 {:?} {}", t.elapsed(), d.len());
}
