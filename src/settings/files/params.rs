//! Configuration given on git's command line (`git -c key=value`), as it reaches a helper:
//! `GIT_CONFIG_COUNT` with `GIT_CONFIG_KEY_n` / `GIT_CONFIG_VALUE_n`, then
//! `GIT_CONFIG_PARAMETERS` (`'key'='value'` or the older `'key=value'`, shell-quoted), read in
//! that order after every file, as git's `git_config_from_parameters` does.
//!
//! Anything git would refuse is reported as unsupported, so that the caller asks git (which
//! then gives its own error).

use super::{Entry, Env, Unsupported};

/// Every command-line entry, in git's order.
pub(super) fn command_line_entries(env: &Env) -> Result<Vec<Entry>, Unsupported> {
    let mut entries = Vec::new();
    if let Some(count) = env("GIT_CONFIG_COUNT") {
        let count: usize = count.parse().map_err(|_| Unsupported::new("GIT_CONFIG_COUNT is not a number"))?;
        for i in 0..count {
            let key = env(&format!("GIT_CONFIG_KEY_{i}"));
            let value = env(&format!("GIT_CONFIG_VALUE_{i}"));
            let (Some(key), Some(value)) = (key, value) else {
                return Err(Unsupported::new("a GIT_CONFIG_KEY_n or GIT_CONFIG_VALUE_n is missing"));
            };
            entries.push(parse_key(&key, Some(value))?);
        }
    }
    if let Some(text) = env("GIT_CONFIG_PARAMETERS") {
        parse_parameters(&text, &mut entries)?;
    }
    Ok(entries)
}

fn bogus() -> Unsupported {
    Unsupported::new("GIT_CONFIG_PARAMETERS is not in git's format")
}

/// `GIT_CONFIG_PARAMETERS` (git's `parse_config_env_list`).
fn parse_parameters(text: &str, entries: &mut Vec<Entry>) -> Result<(), Unsupported> {
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = sq_dequote_step(rest).ok_or_else(bogus)?;
        rest = after;
        if rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            // Old style: 'key=value', or 'key' alone (a value-less boolean).
            let entry = match key.split_once('=') {
                Some((key, value)) => parse_key(key, Some(value.to_owned()))?,
                None => parse_key(&key, None)?,
            };
            entries.push(entry);
        } else if let Some(after_eq) = rest.strip_prefix('=') {
            if after_eq.starts_with('\'') {
                let (value, after) = sq_dequote_step(after_eq).ok_or_else(bogus)?;
                if !(after.is_empty() || after.starts_with(|c: char| c.is_ascii_whitespace())) {
                    return Err(bogus());
                }
                entries.push(parse_key(&key, Some(value))?);
                rest = after;
            } else if after_eq.is_empty() || after_eq.starts_with(|c: char| c.is_ascii_whitespace()) {
                entries.push(parse_key(&key, None)?);
                rest = after_eq;
            } else {
                return Err(bogus());
            }
        } else {
            return Err(bogus());
        }
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    }
    Ok(())
}

/// One single-quoted word (git's `sq_dequote_step`): `'...'`, where `'\''` and `'\!'` stand
/// for a quote and a `!`. Returns the word and what follows it; `None` when unterminated.
fn sq_dequote_step(text: &str) -> Option<(String, &str)> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'\'') {
        return None;
    }
    let mut word = Vec::new();
    let mut i = 1;
    loop {
        let c = *bytes.get(i)?;
        i += 1;
        if c != b'\'' {
            word.push(c);
            continue;
        }
        match bytes.get(i..i + 3) {
            Some([b'\\', q @ (b'\'' | b'!'), b'\'']) => {
                word.push(*q);
                i += 3;
            }
            _ => return Some((String::from_utf8(word).ok()?, &text[i..])),
        }
    }
}

/// A key as `git -c` takes it (git's `git_config_parse_key`): section and name lower-cased,
/// the subsection kept as it is.
fn parse_key(key: &str, value: Option<String>) -> Result<Entry, Unsupported> {
    let invalid = || Unsupported::new("a command-line configuration key is not valid");
    let (base, name) = key.rsplit_once('.').ok_or_else(invalid)?;
    let (section, subsection) = match base.split_once('.') {
        Some((section, subsection)) => (section, Some(subsection)),
        None => (base, None),
    };
    let key_chars = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let name_ok = key_chars(name) && name.as_bytes()[0].is_ascii_alphabetic();
    if !key_chars(section) || !name_ok || subsection.is_some_and(|s| s.contains('\n')) {
        return Err(invalid());
    }
    Ok(Entry {
        section: section.to_ascii_lowercase(),
        subsection: subsection.map(str::to_owned),
        name: name.to_ascii_lowercase(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(vars: &[(&str, &str)]) -> Result<Vec<Entry>, Unsupported> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        command_line_entries(&move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn entry(section: &str, subsection: Option<&str>, name: &str, value: Option<&str>) -> Entry {
        Entry {
            section: section.into(),
            subsection: subsection.map(Into::into),
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn both_styles_of_parameters_and_the_count_are_read_in_gits_order() {
        let found = entries(&[
            ("GIT_CONFIG_PARAMETERS", "'credential.https://H/x.Helper'='a b' 'Http.proxy=p' 'credential.interactive'= 'a.k=it'\\''s'"),
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "CREDENTIAL.Namespace"),
            ("GIT_CONFIG_VALUE_0", "n"),
        ])
        .unwrap();
        assert_eq!(
            found,
            [
                entry("credential", None, crate::settings::defs::key::NAMESPACE, Some("n")),
                entry("credential", Some("https://H/x"), "helper", Some("a b")),
                entry("http", None, "proxy", Some("p")),
                entry("credential", None, crate::settings::defs::key::INTERACTIVE, None),
                entry("a", None, "k", Some("it's")),
            ]
        );
    }

    #[test]
    fn what_git_refuses_is_unsupported() {
        for vars in [
            &[("GIT_CONFIG_PARAMETERS", "'unterminated")][..],
            &[("GIT_CONFIG_PARAMETERS", "'a.b'x")],
            &[("GIT_CONFIG_PARAMETERS", "'nodot'='v'")],
            &[("GIT_CONFIG_COUNT", "2"), ("GIT_CONFIG_KEY_0", "a.b"), ("GIT_CONFIG_VALUE_0", "v")],
            &[("GIT_CONFIG_COUNT", "x")],
        ] {
            assert!(entries(vars).is_err(), "{vars:?}");
        }
    }
}
