//! The configuration text as `/api/v1/status/config` may show it: every secret value
//! replaced by `<secret>`, as Prometheus renders secrets.

/// Keys whose values are secrets in Prometheus's configuration (common HTTP client config,
/// OAuth2, remote-write SigV4/Azure, service discoveries).
const SECRET_KEYS: &[&str] = &[
    "password",
    "credentials",
    "bearer_token",
    "client_secret",
    "secret_key",
    "access_key",
    "api_key",
    "auth_token",
    "token",
    "application_credential_secret",
];

/// `text` with the value of every secret key replaced by `<secret>` (block scalars too).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Indentation of a secret key whose value is a block scalar being skipped.
    let mut skipping_block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(key_indent) = skipping_block {
            if line.trim().is_empty() || indent > key_indent {
                continue;
            }
            skipping_block = None;
        }
        let body = line.trim_start_matches(' ');
        let body = body.strip_prefix("- ").unwrap_or(body);
        let key = body.split(':').next().unwrap_or("").trim();
        let key = key.trim_matches(|c| c == '"' || c == '\'');
        let value = body.split_once(':').map(|(_, v)| v.trim());
        match value {
            Some(v) if SECRET_KEYS.contains(&key) && !v.is_empty() => {
                let prefix_len = line.len() - body.len() + body.find(':').unwrap_or(0) + 1;
                out.push_str(line.get(..prefix_len).unwrap_or(line));
                out.push_str(" <secret>");
                out.push('\n');
                if v.starts_with('|') || v.starts_with('>') {
                    skipping_block = Some(indent);
                }
            }
            _ => out.push_str(line),
        }
    }
    if !text.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_are_hidden_everything_else_kept() {
        let input = "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: hunter2\n      password_file: /p\n    authorization:\n      credentials: \"abc\"\n    oauth2:\n      client_secret: |\n        multi\n        line\n      token_url: http://x\n  - password: top\n";
        let want = "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: <secret>\n      password_file: /p\n    authorization:\n      credentials: <secret>\n    oauth2:\n      client_secret: <secret>\n      token_url: http://x\n  - password: <secret>\n";
        assert_eq!(redact(input), want);
        assert_eq!(redact("global: {}"), "global: {}");
    }
}
