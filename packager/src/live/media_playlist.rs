//! The LL-HLS media playlist of one rendition.

use std::fmt::{self, Write};

use super::block::{Position, Skip};
use super::rendition::{Rendition, min_target_duration};
use crate::resource::Resource;
use crate::timescale::Decimal;
use crate::wallclock::write_iso8601;

/// Protocol version for EXT-X-SKIP (delta updates) and the LL-HLS tags.
const VERSION: u32 = 9;
/// Protocol version once EXT-X-SKIP carries RECENTLY-REMOVED-DATERANGES (`_HLS_skip=v2`).
const VERSION_SKIP_DATERANGES: u32 = 10;

/// Another rendition to report on (EXT-X-RENDITION-REPORT).
pub(crate) struct Report<'a> {
    pub name: &'a str,
    pub position: Position,
}

/// Writes the media playlist of `rendition`.
pub(crate) fn media_playlist<'a>(
    rendition: &Rendition,
    reports: impl Iterator<Item = Report<'a>>,
    finished: bool,
    skip: Skip,
) -> String {
    let window = &rendition.window;
    let mut out = String::with_capacity(512 + 200 * window.segments().len());
    // Writing into a String cannot fail.
    let _ = write_playlist(&mut out, rendition, reports, finished, skip);
    out
}

fn write_playlist<'a>(
    out: &mut String,
    rendition: &Rendition,
    reports: impl Iterator<Item = Report<'a>>,
    finished: bool,
    skip: Skip,
) -> fmt::Result {
    let window = &rendition.window;
    let options = &rendition.options;
    let target = window.target_duration(min_target_duration(options));
    let skip_until_ns = target * 6 * 1_000_000_000;

    // Delta update: segments that ended more than CAN-SKIP-UNTIL before the end may go.
    let mut skipped = 0;
    if skip != Skip::No {
        let mut ended_ago = window.total_ns();
        for segment in window.segments() {
            ended_ago -= segment.duration_ns;
            if !segment.complete || ended_ago <= skip_until_ns {
                break;
            }
            skipped += 1;
        }
    }
    let with_dateranges = skip == Skip::V2 && skipped > 0;

    out.push_str("#EXTM3U\n");
    let version = if with_dateranges {
        VERSION_SKIP_DATERANGES
    } else {
        VERSION
    };
    writeln!(out, "#EXT-X-VERSION:{version}")?;
    writeln!(out, "#EXT-X-TARGETDURATION:{target}")?;
    writeln!(
        out,
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={},HOLD-BACK={},CAN-SKIP-UNTIL={},CAN-SKIP-DATERANGES=YES",
        (options.part_target * 3).as_secs_f64(),
        target * 3,
        target * 6,
    )?;
    writeln!(
        out,
        "#EXT-X-PART-INF:PART-TARGET={}",
        options.part_target.as_secs_f64()
    )?;
    writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", window.first_msn())?;
    let first_disc = window
        .first_discontinuity()
        .unwrap_or(rendition.current_discontinuity());
    if first_disc > 0 {
        writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{first_disc}")?;
    }
    let map = window
        .segments()
        .nth(skipped)
        .map_or(rendition.current_init(), |s| s.init);
    writeln!(out, "#EXT-X-MAP:URI=\"{}\"", Resource::Init(map))?;
    if skipped > 0 {
        write!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")?;
        if with_dateranges {
            out.push_str(",RECENTLY-REMOVED-DATERANGES=\"\"");
        }
        out.push('\n');
    }

    let mut previous = None;
    for (index, segment) in window.segments().enumerate() {
        let (disc_changed, init_changed) = previous.map_or((false, false), |(disc, init)| {
            (disc != segment.discontinuity, init != segment.init)
        });
        previous = Some((segment.discontinuity, segment.init));
        if index < skipped {
            continue;
        }
        if disc_changed {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if disc_changed || init_changed {
            // A new init within a discontinuity: a rendition back in service with a changed
            // config, its timeline going on.
            writeln!(out, "#EXT-X-MAP:URI=\"{}\"", Resource::Init(segment.init))?;
        }
        out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        write_iso8601(out, segment.pdt_ms)?;
        out.push('\n');
        if window.lists_parts(segment) {
            for (part_index, part) in segment.parts.iter().enumerate() {
                write!(
                    out,
                    "#EXT-X-PART:DURATION={},URI=\"{}\"",
                    Decimal::seconds(u64::from(part.duration), segment.timescale, 5),
                    Resource::Part(segment.msn, part_index as u32)
                )?;
                if part.independent {
                    out.push_str(",INDEPENDENT=YES");
                }
                if segment.gap {
                    out.push_str(",GAP=YES");
                }
                out.push('\n');
            }
        }
        if segment.complete {
            writeln!(
                out,
                "#EXTINF:{},",
                Decimal::seconds(segment.duration, segment.timescale, 5)
            )?;
            if segment.gap {
                out.push_str("#EXT-X-GAP\n");
            }
            writeln!(out, "{}", Resource::Segment(segment.msn))?;
        }
    }

    // Out of service, nothing is coming.
    if !finished && rendition.active {
        let next = match (window.open_segment(), rendition.builder.next_part_opens()) {
            (Some(open), _) => Resource::Part(open.msn, open.parts.len() as u32),
            // Samples waiting for their part open this segment.
            (None, Some(msn)) => Resource::Part(msn, 0),
            // A follower that joined or skipped ahead starts at its next cut.
            (None, None) => Resource::Part(
                window
                    .next_msn()
                    .max(rendition.follow.next_cut.unwrap_or(0)),
                0,
            ),
        };
        writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{next}\"")?;
    }
    for report in reports {
        writeln!(
            out,
            "#EXT-X-RENDITION-REPORT:URI=\"../{}/{}\",LAST-MSN={},LAST-PART={}",
            report.name,
            Resource::Playlist,
            report.position.msn,
            report.position.part
        )?;
    }
    if finished {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::live::LiveOptions;
    use crate::live::window::SegmentHeader;
    use crate::track::fixtures::audio;

    /// An audio rendition with hand-made segments: 0 and 1 complete, 2 a gap after a
    /// reconnect, 3 open.
    fn rendition() -> Rendition {
        let mut r = Rendition::new("a", audio(), LiveOptions::default(), 0);
        let header = |msn, discontinuity| SegmentHeader {
            msn,
            discontinuity,
            init: discontinuity,
            timescale: 48_000,
            start: msn * 48_000,
            pdt_ms: msn as i64 * 1000,
        };
        for msn in 0..2 {
            r.window.open(header(msn, 0));
            r.window
                .append_part(24_000, true, 1, Bytes::from_static(b"p0"));
            r.window
                .append_part(24_000, true, 1, Bytes::from_static(b"p1"));
        }
        r.window.push_gap(header(2, 1), 48_000, 19_200);
        r.window.open(header(3, 1));
        r.window
            .append_part(9216, true, 9, Bytes::from_static(b"p"));
        r
    }

    #[test]
    fn writes_every_tag_in_order() {
        let others = [Report {
            name: "v",
            position: Position { msn: 3, part: 1 },
        }];
        let text = media_playlist(&rendition(), others.into_iter(), false, Skip::No);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,HOLD-BACK=3,CAN-SKIP-UNTIL=6,CAN-SKIP-DATERANGES=YES\n\
             #EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"init0.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:00.000Z\n\
             #EXT-X-PART:DURATION=0.50000,URI=\"0.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.50000,URI=\"0.1.m4s\",INDEPENDENT=YES\n\
             #EXTINF:1.00000,\n0.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:01.000Z\n\
             #EXT-X-PART:DURATION=0.50000,URI=\"1.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.50000,URI=\"1.1.m4s\",INDEPENDENT=YES\n\
             #EXTINF:1.00000,\n1.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:02.000Z\n\
             #EXT-X-PART:DURATION=0.40000,URI=\"2.0.m4s\",GAP=YES\n\
             #EXT-X-PART:DURATION=0.40000,URI=\"2.1.m4s\",GAP=YES\n\
             #EXT-X-PART:DURATION=0.20000,URI=\"2.2.m4s\",GAP=YES\n\
             #EXTINF:1.00000,\n#EXT-X-GAP\n2.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:03.000Z\n\
             #EXT-X-PART:DURATION=0.19200,URI=\"3.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"3.1.m4s\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"../v/index.m3u8\",LAST-MSN=3,LAST-PART=1\n"
        );
    }

    #[test]
    fn finished_playlists_end() {
        let text = media_playlist(&rendition(), std::iter::empty(), true, Skip::No);
        assert!(text.ends_with(
            "#EXT-X-PART:DURATION=0.19200,URI=\"3.0.m4s\",INDEPENDENT=YES\n#EXT-X-ENDLIST\n"
        ));
        assert!(!text.contains("PRELOAD-HINT"));
    }

    #[test]
    fn nothing_to_skip_in_a_short_window() {
        let text = media_playlist(&rendition(), std::iter::empty(), false, Skip::V2);
        assert!(!text.contains("EXT-X-SKIP"));
        assert!(text.contains("#EXT-X-VERSION:9\n"));
    }
}
