//! `credential.cacheOptions`: the options of `git credential-cache`, checked and put in the
//! form the `cache` store passes on.

const OPTIONS_EXPECTED: &str =
    "options of git credential-cache: --timeout SECONDS (a whole number above 0) and --socket ABSOLUTE-PATH";

/// Check `credential.cacheOptions` (split into words as a shell splits simple words: blanks
/// separate, quotes group, a backslash escapes) and return them in the `--name=value` form
/// `git credential-cache` takes. A leading `~/` in the socket path stands for `home`.
pub fn parse_cache_options(value: &str, home: Option<&str>) -> Result<Vec<String>, &'static str> {
    let words = shell_words(value).ok_or(OPTIONS_EXPECTED)?;
    let mut options = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (word, None),
        };
        let value = match inline {
            Some(value) => value,
            None => words.next().ok_or(OPTIONS_EXPECTED)?,
        };
        match name.as_str() {
            "--timeout" if value.parse::<i32>().is_ok_and(|t| t > 0) => {
                options.push(format!("--timeout={value}"))
            }
            "--socket" => {
                let path = match (value.strip_prefix("~/"), home) {
                    (Some(rest), Some(home)) => format!("{}/{rest}", home.trim_end_matches('/')),
                    _ => value,
                };
                if !std::path::Path::new(&path).is_absolute() {
                    return Err(OPTIONS_EXPECTED);
                }
                options.push(format!("--socket={path}"));
            }
            _ => return Err(OPTIONS_EXPECTED),
        }
    }
    Ok(options)
}

/// Split like a POSIX shell splits words without expansions; `None` for an unclosed quote.
fn shell_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => current.push(c),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => current.push(c),
                            c => {
                                current.push('\\');
                                current.push(c);
                            }
                        },
                        c => current.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_split_like_shell_words_and_normalised() {
        assert_eq!(parse_cache_options("", None).unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_cache_options("  --timeout 3600\t--socket '/run/my dir/s' ", None).unwrap(),
            ["--timeout=3600", "--socket=/run/my dir/s"]
        );
        assert_eq!(
            parse_cache_options("--socket=\"~/a b\" --timeout=5", Some("/home/u/")).unwrap(),
            ["--socket=/home/u/a b", "--timeout=5"]
        );
        assert_eq!(parse_cache_options(r"--socket /a\ b", None).unwrap(), ["--socket=/a b"]);
    }

    #[test]
    fn unknown_or_incomplete_options_are_refused() {
        for bad in [
            "--timeout",
            "--timeout soon",
            "--timeout 0",
            "--timeout -5",
            "--socket relative/path",
            "--socket ~/s",
            "--debug",
            "3600",
            "--socket '/unclosed",
        ] {
            assert!(parse_cache_options(bad, None).is_err(), "{bad}");
        }
    }
}
