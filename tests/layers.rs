//! Keeps the module layering honest by reading the sources (std only): every
//! crate-internal reference must point down the layers, and no files may
//! depend on each other in a circle.
//!
//! A reference is every leaf of a `use` tree (`pub use` too) and every path in
//! code starting with `crate`, `$crate`, `super`, `self`, a child module, a
//! name a `use` bound to a crate module, or (in main.rs) `onebot_gateway`. It
//! counts for the most specific module file it names (`crate::core::Hub` ->
//! core/mod.rs). Comments and literals are skipped so doc links and text never
//! count; `#[cfg(test)]` modules are skipped too.
//!
//! The allow-lists hold today's exceptions and may only shrink: an entry that
//! no longer occurs fails the test, so it gets removed.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Known up/sideways edges, (from, to) relative to src/. None today: keep it
/// that way (an entry needs a `// why / to fix` comment).
const ALLOWED_EDGES: &[(&str, &str)] = &[];

/// Known file-level cycles, each a sorted list of files relative to src/.
/// None today: keep it that way (an entry needs a `// why / to fix` comment).
const ALLOWED_CYCLES: &[&[&str]] = &[];

/// (first path component under src/, rank, layer). A file may use lower
/// ranks; equal ranks with different names are siblings; rank 0 is a leaf
/// that imports nothing of the crate.
const LAYERS: &[(&str, u8, &str)] = &[
    ("redact.rs", 0, "redact"),
    ("ws.rs", 0, "ws"),
    ("protocol", 1, "protocol"),
    ("core", 2, "core"),
    ("transport", 3, "transport"),
    ("upstream", 3, "upstream"),
    ("config.rs", 4, "config"),
    ("gateway.rs", 5, "gateway"),
    ("import.rs", 5, "import"),
    ("testkit.rs", 5, "testkit"),
    ("lib.rs", 6, "lib"),
    ("main.rs", 7, "main"),
];

/// How main.rs names the library.
const LIB_NAME: &str = "onebot_gateway";
const LIB: usize = 0;
const BIN: usize = 1;

fn layer_of(rel: &str) -> (u8, &str) {
    let top = rel.split('/').next().unwrap_or(rel);
    LAYERS
        .iter()
        .find(|l| l.0 == top)
        .map_or((u8::MAX, top), |l| (l.1, l.2))
}

fn violation(from: &str, to: &str) -> Option<&'static str> {
    let (from, to) = (layer_of(from), layer_of(to));
    if from == to {
        None
    } else if from.0 == 0 {
        Some("a leaf must import nothing of the crate")
    } else if to.0 == u8::MAX {
        Some("imports a file that is in no layer (add it to LAYERS)")
    } else {
        match to.0.cmp(&from.0) {
            Ordering::Greater => Some("imports a layer above"),
            Ordering::Equal => Some("imports a sibling layer"),
            Ordering::Less => None,
        }
    }
}

// ------------------------------------------------------------------ lexing

struct Tok {
    text: String,
    line: usize,
}

/// Identifiers (`r#` dropped, `$crate` kept), `::`, numbers and single
/// punctuation characters, each with its line. Comments and string/char
/// literals are skipped, so doc links and text never count.
fn tokenize(text: &str) -> Vec<Tok> {
    let src: Vec<char> = text.chars().collect();
    let n = src.len();
    let at = |i: usize, pat: &str| {
        pat.chars()
            .enumerate()
            .all(|(k, c)| src.get(i + k) == Some(&c))
    };
    let find = |from: usize, pat: &str| (from..n).find(|&j| at(j, pat));
    let run = |from: usize, more: fn(char) -> bool| {
        from + src[from..].iter().take_while(|&&c| more(c)).count()
    };
    let ident_end = |from: usize| run(from, |c: char| c.is_ascii_alphanumeric() || c == '_');
    let is_start = |i: usize| {
        src.get(i)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
    };
    let (mut toks, mut i, mut line) = (Vec::new(), 0, 1);
    while i < n {
        let c = src[i];
        // r"..", r#".."#, br"..": prefix 1 or 2 (a plain b".." skips at its quote)
        let prefix = usize::from(c == 'r') + 2 * usize::from(at(i, "br"));
        let hashes = src[i + prefix..].iter().take_while(|&&h| h == '#').count();
        let skip = if at(i, "//") {
            Some(find(i, "\n").unwrap_or(n))
        } else if at(i, "/*") {
            let (mut depth, mut j) = (1, i + 2); // block comments nest
            while j < n && depth > 0 {
                let step = i32::from(at(j, "/*")) - i32::from(at(j, "*/"));
                depth += step;
                j += if step == 0 { 1 } else { 2 };
            }
            Some(j)
        } else if prefix > 0 && at(i + prefix + hashes, "\"") {
            let close = format!("\"{}", "#".repeat(hashes));
            Some(find(i + prefix + hashes + 1, &close).map_or(n, |j| j + close.len()))
        } else if c == '"' {
            let mut j = i + 1;
            while j < n && src[j] != '"' {
                j += if src[j] == '\\' { 2 } else { 1 };
            }
            Some(j + 1)
        } else if c == '\'' {
            char_literal_len(&src[i..]).map(|len| i + len)
        } else {
            None
        };
        if let Some(end) = skip {
            let end = end.min(n);
            line += src[i..end].iter().filter(|&&c| c == '\n').count();
            i = end;
            continue;
        }
        if c.is_whitespace() {
            line += usize::from(c == '\n');
            i += 1;
            continue;
        }
        let name = i + usize::from(c == '$');
        let (start, end) = if at(name, "r#") && is_start(name + 2) {
            (if c == '$' { i } else { i + 2 }, ident_end(name + 2))
        } else if is_start(name) {
            (i, ident_end(name))
        } else if at(i, "::") {
            (i, i + 2)
        } else if c.is_ascii_digit() {
            (
                i,
                run(i, |c: char| c.is_alphanumeric() || c == '_' || c == '.'),
            )
        } else {
            (i, i + 1)
        };
        toks.push(Tok {
            text: src[start..end].iter().collect(),
            line,
        });
        i = end;
    }
    toks
}

/// Length of the char literal at `s[0] == '\''`; None for a lifetime or label.
fn char_literal_len(s: &[char]) -> Option<usize> {
    match *s.get(1)? {
        // '\n', '\'', '\x7f', '\u{1F600}': up to the first quote after the escape
        '\\' => (3..s.len().min(16)).find(|&k| s[k] == '\'').map(|k| k + 1),
        '\'' | '\n' => None,
        _ => (s.get(2) == Some(&'\'')).then_some(3),
    }
}

/// The token at `i`, or "" past the end.
fn tok(toks: &[Tok], i: usize) -> &str {
    toks.get(i).map_or("", |t| t.text.as_str())
}

fn is_ident(t: &str) -> bool {
    t.strip_prefix('$')
        .unwrap_or(t)
        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
}

/// Index of the token closing the bracket opened at `open` (or the last one).
fn closing(toks: &[Tok], open: usize, (l, r): (&str, &str)) -> usize {
    let mut depth = 0;
    for (j, t) in toks.iter().enumerate().skip(open) {
        depth += i32::from(t.text == l) - i32::from(t.text == r);
        if depth == 0 {
            return j;
        }
    }
    toks.len().saturating_sub(1)
}

/// At `#[cfg(test)]` (more attributes and a `pub` may follow) `mod NAME {`
/// or `;`: NAME and the index of the `{` or `;`. Tests are not layered.
fn cfg_test_mod(toks: &[Tok], i: usize) -> Option<(&str, usize)> {
    const CFG_TEST: [&str; 7] = ["#", "[", "cfg", "(", "test", ")", "]"];
    if (0..CFG_TEST.len()).any(|k| tok(toks, i + k) != CFG_TEST[k]) {
        return None;
    }
    let mut j = i + CFG_TEST.len();
    while j < toks.len() && tok(toks, j) == "#" {
        j = closing(toks, j + 1, ("[", "]")) + 1;
    }
    if tok(toks, j) == "pub" {
        j += 1;
        if tok(toks, j) == "(" {
            j = closing(toks, j, ("(", ")")) + 1;
        }
    }
    let name = tok(toks, j + 1);
    (tok(toks, j) == "mod" && is_ident(name) && matches!(tok(toks, j + 2), "{" | ";"))
        .then_some((name, j + 2))
}

// ------------------------------------------------------------------ modules

/// A `use` leaf (`binds`: the name it brings in scope, None for a glob) or a
/// path in code, with the module it occurs in.
struct Ref {
    segs: Vec<String>,
    binds: Option<String>,
    line: usize,
    module: Vec<String>,
}

struct SrcFile {
    rel: String,
    krate: usize,
    /// `use` leaves first, then code paths (a `use` binds for the whole file).
    refs: Vec<Ref>,
    /// Declared by `#[cfg(test)] mod x;`: its references are not layered.
    test_only: bool,
}

#[derive(Default)]
struct Crate {
    /// Module path -> file holding it (inline modules belong to their file).
    mods: BTreeMap<Vec<String>, String>,
    children: BTreeMap<Vec<String>, BTreeSet<String>>,
}

struct Edge {
    from: String,
    line: usize,
    to: String,
}

struct Tree {
    src: PathBuf,
    files: Vec<SrcFile>,
    crates: [Crate; 2],
}

/// The file of an out-of-line `mod name;` in `parent` (inside `inline` modules).
fn child_file(parent: &Path, inline: &[String], name: &str) -> Option<PathBuf> {
    let base = parent.file_name()?.to_str()?;
    let mut dir = parent.parent()?.to_path_buf();
    if !matches!(base, "mod.rs" | "lib.rs" | "main.rs") {
        dir.push(base.strip_suffix(".rs").unwrap_or(base));
    }
    dir.extend(inline);
    [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

impl Tree {
    fn load() -> Tree {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut tree = Tree {
            src: src.clone(),
            files: Vec::new(),
            crates: Default::default(),
        };
        for (krate, root) in [(LIB, src.join("lib.rs")), (BIN, src.join("main.rs"))] {
            if root.exists() {
                tree.load_file(root, krate, Vec::new(), false);
            }
        }
        tree
    }

    /// Scans a file for its references and, following `mod` declarations, its submodules.
    fn load_file(&mut self, path: PathBuf, krate: usize, modpath: Vec<String>, test_only: bool) {
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let toks = tokenize(&text);
        let rel = path
            .strip_prefix(&self.src)
            .expect("under src/")
            .to_string_lossy()
            .replace('\\', "/");
        let info = &mut self.crates[krate];
        info.mods.insert(modpath.clone(), rel.clone());
        let (mut refs, mut paths, mut submodules) = (Vec::new(), Vec::new(), Vec::new());
        let mut inline: Vec<(String, usize)> = Vec::new(); // (name, index of its `}`)
        let mut i = 0;
        while i < toks.len() {
            while inline.last().is_some_and(|m| i > m.1) {
                inline.pop();
            }
            let scope: Vec<String> = inline.iter().map(|m| m.0.clone()).collect();
            let module = || [modpath.as_slice(), scope.as_slice()].concat();
            let (t, name, opens) = (tok(&toks, i), tok(&toks, i + 1), tok(&toks, i + 2));
            if let Some((name, k)) = cfg_test_mod(&toks, i) {
                if tok(&toks, k) == "{" {
                    i = closing(&toks, k, ("{", "}")) + 1;
                    continue;
                }
                if let Some(file) = child_file(&path, &scope, name) {
                    info.children
                        .entry(module())
                        .or_default()
                        .insert(name.to_string());
                    submodules.push((file, [module(), vec![name.to_string()]].concat(), true));
                }
                i = k + 1;
            } else if t == "mod" && is_ident(name) && matches!(opens, ";" | "{") {
                info.children
                    .entry(module())
                    .or_default()
                    .insert(name.to_string());
                let child = [module(), vec![name.to_string()]].concat();
                if opens == "{" {
                    info.mods.insert(child, rel.clone());
                    inline.push((name.to_string(), closing(&toks, i + 2, ("{", "}"))));
                } else if let Some(file) = child_file(&path, &scope, name) {
                    submodules.push((file, child, test_only));
                }
                i += 3;
            } else if t == "use" {
                i = use_tree(&toks, i + 1, &[], &module(), &mut refs);
                while i < toks.len() && tok(&toks, i) != ";" {
                    i += 1;
                }
                i += 1;
            } else if t == "in" && i >= 2 && tok(&toks, i - 1) == "(" && tok(&toks, i - 2) == "pub"
            {
                i = closing(&toks, i - 1, ("(", ")")).max(i + 1); // `pub(in path)` is a visibility
            } else if is_ident(t) && name == "::" && (i == 0 || tok(&toks, i - 1) != "::") {
                let mut segs = vec![t.to_string()];
                let mut j = i + 1;
                while tok(&toks, j) == "::" && is_ident(tok(&toks, j + 1)) {
                    segs.push(tok(&toks, j + 1).to_string());
                    j += 2;
                }
                paths.push(Ref {
                    segs,
                    binds: None,
                    line: toks[i].line,
                    module: module(),
                });
                i = j;
            } else {
                i += 1;
            }
        }
        refs.append(&mut paths);
        self.files.push(SrcFile {
            rel,
            krate,
            refs,
            test_only,
        });
        for (file, child, test) in submodules {
            self.load_file(file, krate, child, test);
        }
    }

    /// Every reference from one file to another, outside test-only files.
    fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for file in self.files.iter().filter(|f| !f.test_only) {
            let mut aliases = BTreeMap::new(); // `use crate::core;` makes `core::x` internal
            for r in &file.refs {
                let Some((krate, target)) = self.absolute(file.krate, r, &aliases) else {
                    continue;
                };
                let mods = &self.crates[krate].mods;
                if let Some(name) = r.binds.as_ref().filter(|_| mods.contains_key(&target)) {
                    aliases.insert(name.clone(), (krate, target.clone()));
                }
                // the most specific module file the path names
                let to = (0..=target.len())
                    .rev()
                    .find_map(|k| mods.get(&target[..k]));
                if let Some(to) = to.filter(|to| **to != file.rel) {
                    edges.push(Edge {
                        from: file.rel.clone(),
                        line: r.line,
                        to: to.clone(),
                    });
                }
            }
        }
        edges
    }

    /// The crate and absolute module path a reference names; None if extern.
    fn absolute(
        &self,
        krate: usize,
        r: &Ref,
        aliases: &BTreeMap<String, (usize, Vec<String>)>,
    ) -> Option<(usize, Vec<String>)> {
        let first = r.segs.first()?.as_str();
        let (rest, mut here) = (&r.segs[1..], r.module.clone());
        if first == "crate" || first == "$crate" {
            Some((krate, rest.to_vec()))
        } else if first == LIB_NAME && krate == BIN {
            Some((LIB, rest.to_vec()))
        } else if first == "super" || first == "self" {
            let k = r
                .segs
                .iter()
                .take_while(|s| matches!(s.as_str(), "super" | "self"))
                .count();
            let ups = r.segs[..k].iter().filter(|s| s.as_str() == "super").count();
            here.truncate(here.len().saturating_sub(ups));
            Some((krate, [here.as_slice(), &r.segs[k..]].concat()))
        } else if self.crates[krate]
            .children
            .get(&here)
            .is_some_and(|c| c.contains(first))
        {
            Some((krate, [here.as_slice(), r.segs.as_slice()].concat()))
        } else {
            aliases
                .get(first)
                .map(|(krate, path)| (*krate, [path.as_slice(), rest].concat()))
        }
    }
}

/// Parses the use tree at `toks[i]` into `out`; returns the index after it.
fn use_tree(
    toks: &[Tok],
    mut i: usize,
    prefix: &[String],
    module: &[String],
    out: &mut Vec<Ref>,
) -> usize {
    let mut segs = prefix.to_vec();
    if tok(toks, i) == "::" {
        segs.push("::".to_string()); // `use ::x`: extern
        i += 1;
    }
    loop {
        let (t, line) = (tok(toks, i), toks.get(i).map_or(0, |t| t.line));
        let mut leaf = |segs, binds| {
            out.push(Ref {
                segs,
                binds,
                line,
                module: module.to_vec(),
            })
        };
        match t {
            "{" => {
                i += 1;
                while i < toks.len() && tok(toks, i) != "}" {
                    i = use_tree(toks, i, &segs, module, out);
                    i += usize::from(tok(toks, i) == ",");
                }
                return i + 1;
            }
            "*" => {
                leaf(segs, None);
                return i + 1;
            }
            _ if !is_ident(t) => return i + 1,
            _ => {}
        }
        segs.push(t.to_string());
        i += 1;
        if tok(toks, i) == "::" {
            i += 1;
            continue;
        }
        let mut name = t.to_string();
        if tok(toks, i) == "as" {
            name = tok(toks, i + 1).to_string();
            i += 2;
        }
        if t == "self" {
            segs.pop(); // `a::{self}` names `a`
            name = match segs.last() {
                Some(last) if name == "self" => last.clone(),
                _ => name,
            };
        }
        leaf(segs, Some(name));
        return i;
    }
}

// ------------------------------------------------------------------ graph

type Graph<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

/// Tarjan's strongly connected components with more than one file, each sorted.
fn cycles<'a>(graph: &Graph<'a>) -> Vec<Vec<&'a str>> {
    let mut tarjan = Tarjan::default();
    for &v in graph.keys() {
        if !tarjan.order.contains_key(v) {
            tarjan.visit(graph, v);
        }
    }
    tarjan.found
}

#[derive(Default)]
struct Tarjan<'a> {
    /// Visit index and low-link of each visited file.
    order: BTreeMap<&'a str, (usize, usize)>,
    stack: Vec<&'a str>,
    found: Vec<Vec<&'a str>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, graph: &Graph<'a>, v: &'a str) {
        let index = self.order.len();
        self.order.insert(v, (index, index));
        self.stack.push(v);
        for &w in &graph[v] {
            let low = match self.order.get(w) {
                None => {
                    self.visit(graph, w);
                    self.order[w].1
                }
                Some(&(w_index, _)) if self.stack.contains(&w) => w_index,
                Some(_) => continue,
            };
            let entry = self.order.get_mut(v).expect("visited");
            entry.1 = entry.1.min(low);
        }
        if self.order[v] == (index, index) {
            let root = self
                .stack
                .iter()
                .rposition(|&x| x == v)
                .expect("on the stack");
            let mut component = self.stack.split_off(root);
            if component.len() > 1 {
                component.sort_unstable();
                self.found.push(component);
            }
        }
    }
}

// ------------------------------------------------------------------ tests

/// Fails listing the problems, sorted by (file, line), one per line.
fn report(what: &str, problems: BTreeSet<(String, usize, String)>) {
    let lines: Vec<String> = problems.into_iter().map(|p| p.2).collect();
    assert!(
        lines.is_empty(),
        "{what}: {} problem(s)\n{}",
        lines.len(),
        lines.join("\n")
    );
}

#[test]
fn dependencies_point_down_only() {
    let edges = Tree::load().edges();
    let (mut problems, mut seen) = (BTreeSet::new(), BTreeSet::new());
    for e in &edges {
        let Some(why) = violation(&e.from, &e.to) else {
            continue;
        };
        seen.insert((e.from.as_str(), e.to.as_str()));
        if !ALLOWED_EDGES.contains(&(e.from.as_str(), e.to.as_str())) {
            let (from, to) = (layer_of(&e.from).1, layer_of(&e.to).1);
            let message = format!(
                "src/{}:{}: {from} -> {to} ({}): {why}",
                e.from, e.line, e.to
            );
            problems.insert((e.from.clone(), e.line, message));
        }
    }
    for (from, to) in ALLOWED_EDGES.iter().filter(|pair| !seen.contains(*pair)) {
        let message = format!("src/{from} -> {to} no longer occurs: remove it from ALLOWED_EDGES");
        problems.insert((from.to_string(), 0, message));
    }
    report("layering", problems);
}

#[test]
fn no_cycles_between_files() {
    let edges = Tree::load().edges();
    let mut graph = Graph::new();
    for e in &edges {
        graph
            .entry(e.from.as_str())
            .or_default()
            .insert(e.to.as_str());
        graph.entry(e.to.as_str()).or_default();
    }
    let found = cycles(&graph);
    let mut allowed: Vec<Vec<&str>> = ALLOWED_CYCLES.iter().map(|c| c.to_vec()).collect();
    allowed.iter_mut().for_each(|c| c.sort_unstable());
    let mut problems = BTreeSet::new();
    for (n, cycle) in found.iter().filter(|c| !allowed.contains(*c)).enumerate() {
        let files = cycle.join(" ");
        let message = format!("new cycle #{n} [{files}]: break it (or add it to ALLOWED_CYCLES)");
        problems.insert((String::new(), n, message));
        // name each edge inside the cycle by its first reference
        let inside = |f: &String| cycle.contains(&f.as_str());
        let mut first: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for e in edges.iter().filter(|e| inside(&e.from) && inside(&e.to)) {
            let line = first
                .entry((e.from.as_str(), e.to.as_str()))
                .or_insert(e.line);
            *line = e.line.min(*line);
        }
        for ((from, to), line) in first {
            let message = format!("src/{from}:{line}: {from} -> {to}: edge of new cycle #{n}");
            problems.insert((from.to_string(), line, message));
        }
    }
    for cycle in allowed.iter().filter(|c| !found.contains(*c)) {
        let message = format!(
            "cycle [{}] no longer occurs: remove it from ALLOWED_CYCLES",
            cycle.join(" ")
        );
        problems.insert((String::new(), 0, message));
    }
    report("file-level cycles", problems);
}
