//! The admin bearer token: from the configuration, or generated on first start
//! and kept in the data directory.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

const FILE_NAME: &str = "admin_token";

/// The token and whether it was just generated (so the caller prints it once).
pub fn load_or_generate(
    configured: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<(String, bool)> {
    if let Some(token) = configured {
        return Ok((token.to_owned(), false));
    }
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok((token.trim().to_owned(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let token = crate::ids::secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("writing {}", path.display()))?;
    Ok((token, true))
}

/// Where a client (the CLI) finds the token of a local server.
pub fn read(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join(FILE_NAME))
        .ok()
        .map(|t| t.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_kept() {
        let dir = std::env::temp_dir().join(format!("tributary-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (first, fresh) = load_or_generate(None, &dir).unwrap();
        assert!(fresh);
        let (second, fresh) = load_or_generate(None, &dir).unwrap();
        assert!(!fresh);
        assert_eq!(first, second);
        assert_eq!(read(&dir).as_deref(), Some(first.as_str()));
        assert_eq!(
            load_or_generate(Some("given"), &dir).unwrap(),
            ("given".to_owned(), false)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
