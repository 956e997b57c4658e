//! A room's rules: its settings (slow mode, length, word filter) and who is
//! banned or timed out, by name and by address.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::name_key;
use crate::protocol::SettingsPatch;

/// Longest time-out: 14 days.
pub const MAX_TIMEOUT_SECS: u64 = 14 * 24 * 3600;
pub const DEFAULT_MAX_LENGTH: u32 = 500;
const MAX_MAX_LENGTH: u32 = 2000;
const SLOW_MODE_SECS: std::ops::RangeInclusive<u32> = 3..=120;
const MAX_FILTER_WORDS: usize = 500;
const MAX_FILTER_WORD: usize = 100;

/// Settings a moderator changes per room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// 0 for off, else 3 to 120 seconds between one user's messages.
    pub slow_mode_secs: u32,
    /// In characters.
    pub max_length: u32,
    /// Lowercased words; a message holding one is refused.
    pub word_filter: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            slow_mode_secs: 0,
            max_length: DEFAULT_MAX_LENGTH,
            word_filter: Vec::new(),
        }
    }
}

impl Settings {
    /// These settings with `patch` applied, or why the patch is invalid.
    pub fn patched(&self, patch: &SettingsPatch) -> Result<Settings, String> {
        let mut next = self.clone();
        if let Some(secs) = patch.slow_mode_secs {
            if secs != 0 && !SLOW_MODE_SECS.contains(&secs) {
                return Err("slow_mode_secs must be 0 (off) or 3 to 120".into());
            }
            next.slow_mode_secs = secs;
        }
        if let Some(length) = patch.max_length {
            if !(1..=MAX_MAX_LENGTH).contains(&length) {
                return Err(format!("max_length must be 1 to {MAX_MAX_LENGTH}"));
            }
            next.max_length = length;
        }
        if let Some(words) = &patch.word_filter {
            if words.len() > MAX_FILTER_WORDS {
                return Err(format!(
                    "word_filter holds at most {MAX_FILTER_WORDS} words"
                ));
            }
            let mut cleaned: Vec<String> = Vec::with_capacity(words.len());
            for word in words {
                let word = word.trim().to_lowercase();
                if word.is_empty() || word.chars().count() > MAX_FILTER_WORD {
                    return Err(format!(
                        "word_filter words are 1 to {MAX_FILTER_WORD} characters"
                    ));
                }
                if !cleaned.contains(&word) {
                    cleaned.push(word);
                }
            }
            next.word_filter = cleaned;
        }
        Ok(next)
    }

    /// Whether `text` holds a filtered word (whole words, any case; a filter
    /// entry of several words matches that phrase).
    pub fn filters(&self, text: &str) -> bool {
        if self.word_filter.is_empty() {
            return false;
        }
        let text = text.to_lowercase();
        self.word_filter.iter().any(|word| holds_word(&text, word))
    }
}

fn holds_word(text: &str, word: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(word).any(|(at, _)| {
        boundary(text[..at].chars().next_back()) && boundary(text[at + word.len()..].chars().next())
    })
}

/// A ban (no `until`) or a time-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ban {
    pub name: String,
    pub ip: Option<IpAddr>,
    pub until: Option<DateTime<Utc>>,
}

/// Why a user may not send or join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Banned,
    TimedOut(DateTime<Utc>),
}

/// The bans and time-outs in force in a room.
#[derive(Debug, Default)]
pub struct Bans {
    by_name: HashMap<String, Ban>,
    by_ip: HashMap<IpAddr, Option<DateTime<Utc>>>,
}

impl Bans {
    pub fn add(&mut self, ban: Ban) {
        if let Some(ip) = ban.ip {
            self.by_ip.insert(ip, ban.until);
        }
        self.by_name.insert(name_key(&ban.name), ban);
    }

    /// Lifts the ban or time-out of a name and the address banned with it.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.by_name.remove(&name_key(name)) {
            Some(ban) => {
                if let Some(ip) = ban.ip {
                    self.by_ip.remove(&ip);
                }
                true
            }
            None => false,
        }
    }

    /// The block on a name or an address in force at `now`, the stronger first.
    pub fn block(&self, name: Option<&str>, ip: IpAddr, now: DateTime<Utc>) -> Option<Block> {
        let by_name = name
            .and_then(|n| self.by_name.get(&name_key(n)))
            .map(|ban| ban.until);
        let by_ip = self.by_ip.get(&ip).copied();
        let mut block = None;
        for until in [by_name, by_ip].into_iter().flatten() {
            match until {
                None => return Some(Block::Banned),
                Some(until) if until > now => {
                    block = Some(match block {
                        Some(Block::TimedOut(other)) if other > until => Block::TimedOut(other),
                        _ => Block::TimedOut(until),
                    })
                }
                Some(_) => {}
            }
        }
        block
    }

    /// Bans and time-outs still in force.
    pub fn active(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Ban> {
        self.by_name
            .values()
            .filter(move |ban| ban.until.is_none_or(|until| until > now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn patch(slow: Option<u32>, length: Option<u32>, words: Option<&[&str]>) -> SettingsPatch {
        SettingsPatch {
            slow_mode_secs: slow,
            max_length: length,
            word_filter: words.map(|w| w.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn settings_are_validated() {
        let s = Settings::default();
        assert!(s.patched(&patch(Some(2), None, None)).is_err());
        assert!(s.patched(&patch(Some(121), None, None)).is_err());
        assert_eq!(
            s.patched(&patch(Some(3), None, None))
                .unwrap()
                .slow_mode_secs,
            3
        );
        assert_eq!(
            s.patched(&patch(Some(0), None, None))
                .unwrap()
                .slow_mode_secs,
            0
        );
        assert!(s.patched(&patch(None, Some(0), None)).is_err());
        assert!(s.patched(&patch(None, Some(2001), None)).is_err());
        assert!(s.patched(&patch(None, None, Some(&[" "]))).is_err());
        let words = s
            .patched(&patch(None, None, Some(&["Spam", "spam", "bad word"])))
            .unwrap();
        assert_eq!(words.word_filter, vec!["spam", "bad word"]);
        assert_eq!(words.max_length, DEFAULT_MAX_LENGTH);
    }

    #[test]
    fn the_word_filter_matches_whole_words_in_any_case() {
        let s = Settings::default()
            .patched(&patch(None, None, Some(&["spam", "bad word"])))
            .unwrap();
        assert!(s.filters("buy SPAM now"));
        assert!(s.filters("spam!"));
        assert!(s.filters("a Bad Word here"));
        assert!(!s.filters("spammer"));
        assert!(!s.filters("antispam"));
        assert!(!s.filters("bad words"));
        assert!(!Settings::default().filters("spam"));
    }

    #[test]
    fn bans_block_by_name_and_address_until_lifted() {
        let now = Utc::now();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let mut bans = Bans::default();
        bans.add(Ban {
            name: "Troll".into(),
            ip: Some(ip),
            until: None,
        });
        assert_eq!(bans.block(Some("troll"), other, now), Some(Block::Banned));
        assert_eq!(bans.block(Some("newname"), ip, now), Some(Block::Banned));
        assert_eq!(bans.block(None, ip, now), Some(Block::Banned));
        assert_eq!(bans.block(Some("ada"), other, now), None);
        assert!(bans.remove("TROLL"));
        assert_eq!(bans.block(Some("troll"), ip, now), None);
        assert!(!bans.remove("troll"));
    }

    #[test]
    fn timeouts_expire() {
        let now = Utc::now();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let mut bans = Bans::default();
        let until = now + Duration::seconds(60);
        bans.add(Ban {
            name: "ada".into(),
            ip: None,
            until: Some(until),
        });
        assert_eq!(
            bans.block(Some("ada"), ip, now),
            Some(Block::TimedOut(until))
        );
        assert_eq!(
            bans.block(Some("ada"), ip, until + Duration::seconds(1)),
            None
        );
        assert_eq!(bans.active(now).count(), 1);
        assert_eq!(bans.active(until).count(), 0);
    }
}
