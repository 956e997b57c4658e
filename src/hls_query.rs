//! The LL-HLS delivery directives of a playlist request (`_HLS_msn`,
//! `_HLS_part`, `_HLS_skip`), parsed strictly: a malformed directive is a 400,
//! never a guess. Other parameters (cache busters, tokens) are ignored.

use packager::Skip;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsQuery {
    pub msn: Option<u64>,
    pub part: Option<u32>,
    pub skip: Skip,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("query string too long")]
    TooLong,
    #[error("{0} given more than once")]
    Repeated(&'static str),
    #[error("{0} must be a non-negative integer")]
    NotANumber(&'static str),
    #[error("_HLS_part requires _HLS_msn")]
    PartWithoutMsn,
    #[error("_HLS_skip must be YES or v2")]
    BadSkip,
}

const MAX_QUERY: usize = 2048;

pub fn parse(query: Option<&str>) -> Result<HlsQuery, QueryError> {
    let mut parsed = HlsQuery {
        msn: None,
        part: None,
        skip: Skip::No,
    };
    let Some(query) = query else {
        return Ok(parsed);
    };
    if query.len() > MAX_QUERY {
        return Err(QueryError::TooLong);
    }
    let mut skip_seen = false;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "_HLS_msn" => set_number(&mut parsed.msn, "_HLS_msn", value)?,
            "_HLS_part" => set_number(&mut parsed.part, "_HLS_part", value)?,
            "_HLS_skip" => {
                if std::mem::replace(&mut skip_seen, true) {
                    return Err(QueryError::Repeated("_HLS_skip"));
                }
                parsed.skip = match value {
                    "YES" => Skip::Yes,
                    "v2" => Skip::V2,
                    _ => return Err(QueryError::BadSkip),
                };
            }
            _ => {}
        }
    }
    if parsed.part.is_some() && parsed.msn.is_none() {
        return Err(QueryError::PartWithoutMsn);
    }
    Ok(parsed)
}

fn set_number<T: std::str::FromStr>(
    slot: &mut Option<T>,
    name: &'static str,
    value: &str,
) -> Result<(), QueryError> {
    if slot.is_some() {
        return Err(QueryError::Repeated(name));
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::NotANumber(name));
    }
    *slot = Some(value.parse().map_err(|_| QueryError::NotANumber(name))?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        assert_eq!(
            parse(None).unwrap(),
            HlsQuery {
                msn: None,
                part: None,
                skip: Skip::No
            }
        );
        let q = parse(Some("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES&cb=1")).unwrap();
        assert_eq!((q.msn, q.part, q.skip), (Some(12), Some(3), Skip::Yes));
        assert_eq!(parse(Some("_HLS_skip=v2")).unwrap().skip, Skip::V2);
    }

    #[test]
    fn hostile_queries_are_rejected() {
        assert_eq!(parse(Some("_HLS_part=1")), Err(QueryError::PartWithoutMsn));
        assert_eq!(
            parse(Some("_HLS_msn=-1")),
            Err(QueryError::NotANumber("_HLS_msn"))
        );
        assert_eq!(
            parse(Some("_HLS_msn=+1")),
            Err(QueryError::NotANumber("_HLS_msn"))
        );
        assert_eq!(
            parse(Some("_HLS_msn=99999999999999999999999")),
            Err(QueryError::NotANumber("_HLS_msn"))
        );
        assert_eq!(
            parse(Some("_HLS_msn=1&_HLS_part=4294967296")),
            Err(QueryError::NotANumber("_HLS_part"))
        );
        assert_eq!(
            parse(Some("_HLS_msn=1&_HLS_msn=2")),
            Err(QueryError::Repeated("_HLS_msn"))
        );
        assert_eq!(
            parse(Some("_HLS_msn")),
            Err(QueryError::NotANumber("_HLS_msn"))
        );
        assert_eq!(parse(Some("_HLS_skip=yes")), Err(QueryError::BadSkip));
        assert_eq!(parse(Some(&"a=b&".repeat(1000))), Err(QueryError::TooLong));
    }
}
