//! SRT stream ids: which key a caller wants to publish.
//!
//! Accepted forms, URL-encoded or not:
//! - the access control syntax `#!::r=live/KEY,m=publish` (keys in any
//!   order, unknown keys ignored; a mode other than `publish` is refused),
//! - `live/KEY`,
//! - a bare `KEY`.

/// The resource a caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamId {
    /// The part before the first `/` (`live`), or empty for a bare key.
    pub app: String,
    /// The stream key (everything after the app).
    pub key: String,
}

/// Why a stream id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    #[error("no stream id")]
    Empty,
    #[error("stream id is not valid percent-encoded UTF-8")]
    Encoding,
    #[error("mode {0:?} requested; only publish is accepted")]
    Mode(String),
    #[error("stream id has no resource (r=)")]
    NoResource,
    #[error("stream id names no stream key")]
    NoKey,
}

const ACCESS_CONTROL_PREFIX: &str = "#!::";

/// Parses a stream id; see the [module docs](self) for the forms.
pub fn parse(raw: &str) -> Result<StreamId, StreamIdError> {
    let decoded = urlencoding::decode(raw).map_err(|_| StreamIdError::Encoding)?;
    let id = decoded.trim();
    if id.is_empty() {
        return Err(StreamIdError::Empty);
    }
    let resource = match id.strip_prefix(ACCESS_CONTROL_PREFIX) {
        Some(pairs) => access_control_resource(pairs)?,
        None => id,
    };
    let resource = resource.trim_start_matches('/');
    let (app, key) = resource.split_once('/').unwrap_or(("", resource));
    if key.is_empty() {
        return Err(StreamIdError::NoKey);
    }
    Ok(StreamId {
        app: app.to_owned(),
        key: key.to_owned(),
    })
}

/// The `r=` value of `k=v,k=v` pairs, after checking `m=`.
fn access_control_resource(pairs: &str) -> Result<&str, StreamIdError> {
    let mut resource = None;
    for pair in pairs.split(',') {
        match pair.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("r", value)) => resource = Some(value),
            Some(("m", mode)) if mode != "publish" => {
                return Err(StreamIdError::Mode(mode.to_owned()));
            }
            _ => {}
        }
    }
    resource
        .filter(|r| !r.is_empty())
        .ok_or(StreamIdError::NoResource)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(app: &str, key: &str) -> Result<StreamId, StreamIdError> {
        Ok(StreamId {
            app: app.to_owned(),
            key: key.to_owned(),
        })
    }

    #[test]
    fn access_control_syntax() {
        assert_eq!(parse("#!::r=live/good,m=publish"), ok("live", "good"));
        assert_eq!(
            parse("#!::m=publish,u=alice,r=live/good"),
            ok("live", "good")
        );
        assert_eq!(parse("#!::r=good"), ok("", "good"));
        assert_eq!(parse("#!:: r = live/good , s=abc"), ok("live", "good"));
        assert_eq!(
            parse("#!::r=live/good,m=request"),
            Err(StreamIdError::Mode("request".to_owned()))
        );
        assert_eq!(parse("#!::m=publish"), Err(StreamIdError::NoResource));
        assert_eq!(parse("#!::r=,m=publish"), Err(StreamIdError::NoResource));
        assert_eq!(parse("#!::r=live/"), Err(StreamIdError::NoKey));
    }

    #[test]
    fn plain_forms() {
        assert_eq!(parse("live/good"), ok("live", "good"));
        assert_eq!(parse("/live/good"), ok("live", "good"));
        assert_eq!(parse("good"), ok("", "good"));
        assert_eq!(parse("live/a/b"), ok("live", "a/b"));
        assert_eq!(parse(""), Err(StreamIdError::Empty));
        assert_eq!(parse("  "), Err(StreamIdError::Empty));
        assert_eq!(parse("live/"), Err(StreamIdError::NoKey));
    }

    #[test]
    fn url_encoded_forms() {
        assert_eq!(
            parse("%23%21%3A%3Ar%3Dlive%2Fgood%2Cm%3Dpublish"),
            ok("live", "good")
        );
        assert_eq!(parse("live%2Fgood"), ok("live", "good"));
        assert_eq!(parse("go%6fd"), ok("", "good"));
        assert_eq!(parse("%ff%fe"), Err(StreamIdError::Encoding));
    }

    #[test]
    fn every_prefix_is_handled() {
        let id = "#!::r=live/good,m=publish";
        for len in 0..id.len() {
            let _ = parse(&id[..len]);
        }
    }
}
