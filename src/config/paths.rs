//! File paths in a config: joining relative ones to the config's directory, and expanding
//! glob patterns as Go's `filepath.Glob` does.

use std::path::{Component, Path, PathBuf};

/// Joins a relative `path` to `dir` and cleans the result lexically (as Go's
/// `config.JoinDir` → `filepath.Join`). Empty and absolute paths are returned as they are.
pub(super) fn join_dir(dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if path.is_empty() || p.is_absolute() {
        return p.to_path_buf();
    }
    clean(&dir.join(p))
}

/// [`join_dir`] for a string that stays a string (rule file patterns).
pub(super) fn join_dir_str(dir: &Path, path: &str) -> String {
    join_dir(dir, path).to_string_lossy().into_owned()
}

/// Lexical clean-up: drops `.` components and folds `name/..` (as Go's `filepath.Clean`).
fn clean(p: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// A glob pattern that is malformed (an unclosed `[`, a trailing `\`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct GlobError;

/// The files matching `pattern`, as Go's `filepath.Glob`: `*` (any run of characters other
/// than `/`), `?` (one such character), `[...]` classes (`^` negates, `a-z` ranges) and `\`
/// escapes, in any path component. Matches come sorted within each directory. A pattern
/// without metacharacters matches itself when the file exists. Unreadable directories
/// match nothing.
pub fn glob(pattern: &str) -> Result<Vec<PathBuf>, GlobError> {
    if !has_meta(pattern) {
        return Ok(if std::fs::symlink_metadata(pattern).is_ok() { vec![PathBuf::from(pattern)] } else { Vec::new() });
    }
    let (dir, file) = match pattern.rfind('/') {
        Some(i) => (&pattern[..=i], &pattern[i + 1..]),
        None => ("", pattern),
    };
    // Validate the file part even when no directory entry gets to be matched against it.
    match_pattern(file, "")?;
    let dir = match dir {
        "" => ".".to_string(),
        "/" => "/".to_string(),
        d => d.trim_end_matches('/').to_string(),
    };
    let mut out = Vec::new();
    if !has_meta(&dir) {
        glob_in(Path::new(&dir), file, pattern.contains('/'), &mut out)?;
        return Ok(out);
    }
    for d in glob(&dir)? {
        glob_in(&d, file, true, &mut out)?;
    }
    Ok(out)
}

/// Appends the entries of `dir` whose names match `file` (sorted). `keep_dir` says whether
/// results carry the directory (false for a pattern without `/`, matched in `.`).
fn glob_in(dir: &Path, file: &str, keep_dir: bool, out: &mut Vec<PathBuf>) -> Result<(), GlobError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for n in names {
        if match_pattern(file, &n)? {
            out.push(if keep_dir { dir.join(&n) } else { PathBuf::from(n) });
        }
    }
    Ok(())
}

/// Whether `s` contains any of Go's glob metacharacters.
fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// Go's `filepath.Match` for one path component (no `/` in `name`).
fn match_pattern(pattern: &str, name: &str) -> Result<bool, GlobError> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*`, as glob matchers do; a malformed
    // class is reported even if the name fails to match earlier.
    validate(&p)?;
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' if n[ni] != '/' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    let (matched, next) = class(&p, pi, n[ni])?;
                    if matched {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                c if c != '\\' && c != '?' && c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        // Mismatch: let the last `*` swallow one more character (never a `/`).
        match star {
            Some((sp, sn)) if n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => return Ok(false),
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    Ok(pi == p.len())
}

/// Checks every `[...]` class and `\` escape in a pattern is well formed.
fn validate(p: &[char]) -> Result<(), GlobError> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 >= p.len() => return Err(GlobError),
            '\\' => i += 2,
            '[' => i = class(p, i, '\0')?.1,
            _ => i += 1,
        }
    }
    Ok(())
}

/// Matches `c` against the class starting at `p[start] == '['`; returns whether it matched
/// and the index after the closing `]`.
fn class(p: &[char], start: usize, c: char) -> Result<(bool, usize), GlobError> {
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&ch) = p.get(i) else {
            return Err(GlobError);
        };
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, next) = class_char(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, next) = class_char(p, i + 1)?;
            hi = h;
            i = next;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Ok((matched != negated, i))
}

/// One (possibly escaped) character inside a class.
fn class_char(p: &[char], i: usize) -> Result<(char, usize), GlobError> {
    match p.get(i) {
        Some('\\') => p.get(i + 1).map(|&c| (c, i + 2)).ok_or(GlobError),
        Some(&c) if c != '-' && c != ']' => Ok((c, i + 1)),
        _ => Err(GlobError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from Go's `path/filepath` documentation of `Match` (derived by hand).
    #[test]
    fn matching() {
        let cases: &[(&str, &str, Result<bool, GlobError>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[", "a", Err(GlobError)),
            ("[^", "a", Err(GlobError)),
            ("[^bc", "a", Err(GlobError)),
            ("a[", "a", Err(GlobError)),
            ("a\\", "a", Err(GlobError)),
            ("[]a]", "]", Err(GlobError)),
            ("[-]", "-", Err(GlobError)),
            ("*x", "xxx", Ok(true)),
            ("rules/*.yml", "rules/a.yml", Ok(true)),
        ];
        for (p, n, want) in cases {
            assert_eq!(&match_pattern(p, n), want, "pattern {p:?} name {n:?}");
        }
    }

    #[test]
    fn globbing_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.yml", "b.yml", "c.yaml", "sub/d.yml", "sub2/e.yml"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
        }
        let d = dir.path().to_string_lossy().into_owned();
        let names = |pat: &str| -> Vec<String> {
            glob(&format!("{d}/{pat}"))
                .unwrap()
                .iter()
                .map(|p| p.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names("*.yml"), ["a.yml", "b.yml"]);
        assert_eq!(names("?.y*"), ["a.yml", "b.yml", "c.yaml"]);
        assert_eq!(names("sub*/*.yml"), ["sub/d.yml", "sub2/e.yml"]);
        assert_eq!(names("a.yml"), ["a.yml"]);
        assert!(names("nope.yml").is_empty());
        assert!(names("*.json").is_empty());
        assert_eq!(glob(&format!("{d}/[")), Err(GlobError));
    }

    #[test]
    fn joining() {
        let cases = [
            (".", "rules.yml", "rules.yml"),
            ("/etc/prometheus", "rules.yml", "/etc/prometheus/rules.yml"),
            ("/etc/prometheus", "./r/../x.yml", "/etc/prometheus/x.yml"),
            ("conf", "../x.yml", "x.yml"),
            ("..", "x.yml", "../x.yml"),
            ("/etc", "/abs.yml", "/abs.yml"),
            ("/etc", "", ""),
        ];
        for (dir, p, want) in cases {
            assert_eq!(join_dir(Path::new(dir), p), PathBuf::from(want), "{dir} + {p}");
        }
    }
}
