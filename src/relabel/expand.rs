//! Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}` and `$$` in a template.
//!
//! The rules, as Go applies them:
//! - `$$` is a literal `$`.
//! - `$` followed by a name (the longest run of letters, digits and `_`) or by `{name}` refers
//!   to a group. A name made only of digits (no leading zero, at most nine digits) is a group
//!   number; anything else is a group name, so `$1x` is the group *named* `1x`, not group 1
//!   followed by `x`.
//! - A reference to a group that does not exist or did not take part in the match expands to
//!   nothing.
//! - A `$` not followed by a valid reference (`$-`, `${1`, a trailing `$`) is kept as it is.

/// What the template's references resolve against.
pub(super) trait Groups {
    /// The text of group `i`, if it took part in the match.
    fn group(&self, i: usize) -> Option<&str>;
    /// The text of the first group named `name` that took part in the match.
    fn named(&self, name: &str) -> Option<&str>;
}

/// Appends `template`, with its references resolved against `groups`, to `out`.
pub(super) fn expand(template: &str, groups: &dyn Groups, out: &mut String) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match reference(rest) {
            Some((name, after)) => {
                rest = after;
                let text = match group_number(name) {
                    Some(i) => groups.group(i),
                    None => groups.named(name),
                };
                out.push_str(text.unwrap_or(""));
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// Whether `template` contains anything [`expand`] would replace.
pub(super) fn has_references(template: &str) -> bool {
    template.contains('$')
}

/// Reads the reference after a `$`: `name` or `{name}`. Returns the name and the text after
/// the reference, or `None` when there is no valid reference.
fn reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    // Go's name characters: Unicode letters and digits, and `_`.
    let len = body.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(body.len());
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

/// The group number a name stands for: decimal digits only, no leading zero (except `0`
/// itself), and at most nine digits, as Go's `extract` decides (it stops
/// accepting digits once the number reaches 10^8).
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) || name.len() > 9 {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups as a fixed table: index → text, plus names.
    struct Fixed {
        groups: Vec<Option<&'static str>>,
        names: Vec<(&'static str, usize)>,
    }

    impl Groups for Fixed {
        fn group(&self, i: usize) -> Option<&str> {
            self.groups.get(i).copied().flatten()
        }
        fn named(&self, name: &str) -> Option<&str> {
            self.names.iter().filter(|(n, _)| *n == name).find_map(|&(_, i)| self.group(i))
        }
    }

    /// Expected values follow Go's `regexp.Expand` documentation and its `extract` rules
    /// (derived by hand: `$1x` names the group `1x`; `$$` is a dollar; malformed references
    /// stay literal; unknown groups expand to nothing).
    #[test]
    fn go_expand_rules() {
        let g = Fixed {
            groups: vec![Some("whole"), Some("one"), None, Some("three")],
            names: vec![("name", 3), ("1x", 1), ("unset", 2)],
        };
        let cases = [
            ("$1", "one"),
            ("${1}", "one"),
            ("$1x", "one"),
            ("${1}x", "onex"),
            ("$0", "whole"),
            ("$2", ""),
            ("$9", ""),
            ("$name", "three"),
            ("${name}", "three"),
            ("$name-$1", "three-one"),
            ("$unset", ""),
            ("$missing", ""),
            ("$$", "$"),
            ("$$1", "$1"),
            ("a$", "a$"),
            ("$-", "$-"),
            ("${1", "${1"),
            ("${}", "${}"),
            ("${-}", "${-}"),
            ("$01", ""),
            ("$00", ""),
            ("$123456789", ""),
            ("$1234567890", ""),
            ("no refs", "no refs"),
            ("$1$1", "oneone"),
            ("$é", ""),
            ("x${name}y${1}z", "xthreeyonez"),
        ];
        for (template, want) in cases {
            let mut out = String::new();
            expand(template, &g, &mut out);
            assert_eq!(out, want, "template {template:?}");
        }
    }

    #[test]
    fn group_numbers() {
        assert_eq!(group_number("0"), Some(0));
        assert_eq!(group_number("12"), Some(12));
        assert_eq!(group_number("012"), None);
        assert_eq!(group_number("999999999"), Some(999_999_999));
        assert_eq!(group_number("1000000000"), None);
        assert_eq!(group_number("1x"), None);
    }
}
