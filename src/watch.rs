//! The watch page and its assets, embedded in the binary (hls.js comes from
//! npm, pinned by web/package-lock.json).

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

const WATCH_HTML: &str = include_str!("../web/watch.html");
const WATCH_JS: &str = include_str!("../web/watch.js");
const CHAT_JS: &str = include_str!("../web/chat.js");
const CHAT_MESSAGE_JS: &str = include_str!("../web/chat_message.js");
const WATCH_CSS: &str = include_str!("../web/watch.css");
const VOD_HTML: &str = include_str!("../web/vod.html");
const VOD_JS: &str = include_str!("../web/vod.js");
const REPLAY_CHAT_JS: &str = include_str!("../web/replay_chat.js");
const HLS_JS: &str = include_str!("../web/node_modules/hls.js/dist/hls.min.js");

/// Our own assets may change with every release; hls.js only with its pin.
const ASSET_CACHE: &str = "public, max-age=300";

pub fn routes() -> Router {
    Router::new()
        .route("/watch/{id}", get(watch))
        .route(
            "/assets/watch.js",
            get(|| asset("text/javascript", WATCH_JS)),
        )
        .route("/assets/chat.js", get(|| asset("text/javascript", CHAT_JS)))
        .route(
            "/assets/chat_message.js",
            get(|| asset("text/javascript", CHAT_MESSAGE_JS)),
        )
        .route("/assets/vod.js", get(|| asset("text/javascript", VOD_JS)))
        .route(
            "/assets/replay_chat.js",
            get(|| asset("text/javascript", REPLAY_CHAT_JS)),
        )
        .route("/assets/watch.css", get(|| asset("text/css", WATCH_CSS)))
        .route(
            "/assets/hls.min.js",
            get(|| asset("text/javascript", HLS_JS)),
        )
}

async fn watch(Path(id): Path<String>) -> Response {
    if !crate::ids::is_id(&id) {
        return (StatusCode::NOT_FOUND, "no such stream\n").into_response();
    }
    Html(WATCH_HTML.replace("{{STREAM_ID}}", &id)).into_response()
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, ASSET_CACHE),
        ],
        body,
    )
        .into_response()
}

/// The VOD watch page of an asset titled `title`; with its poster and
/// seek-bar thumbnails when it has them, and its chat beside it when it
/// replays a broadcast.
pub fn vod_page(video_id: &str, title: &str, thumbnails: bool, replay: bool) -> Html<String> {
    let master = crate::vod::playback::hls_path(video_id);
    let media = format!("/vod/{video_id}/");
    let (poster, storyboard) = if thumbnails {
        (
            format!("{media}{}", crate::vod::thumbnails::POSTER),
            format!("{media}{}", crate::vod::thumbnails::STORYBOARD),
        )
    } else {
        (String::new(), String::new())
    };
    let chat = if replay {
        crate::recording::chat_replay::path(video_id)
    } else {
        String::new()
    };
    Html(
        VOD_HTML
            .replace("{{MASTER}}", &html_escape(&master))
            .replace("{{POSTER}}", &html_escape(&poster))
            .replace("{{STORYBOARD}}", &html_escape(&storyboard))
            .replace("{{CHAT}}", &html_escape(&chat))
            .replace("{{TITLE}}", &html_escape(title)),
    )
}

/// Text made safe inside HTML elements and quoted attributes.
fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_title_stays_text() {
        let page = vod_page(
            "abc123",
            "<script>alert(1)</script> & \"x\" 'y'",
            true,
            false,
        )
        .0;
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;")
        );
        assert!(!page.contains("<script>alert"));
        assert!(page.contains(r#"data-master="/vod/abc123/master.m3u8""#));
        assert!(page.contains(r#"poster="/vod/abc123/poster.jpg""#));
        assert!(page.contains(r#"data-storyboard="/vod/abc123/storyboard.vtt""#));
        assert!(page.contains(r#"data-chat="""#), "an upload has no chat");
    }

    #[test]
    fn a_replay_page_reads_its_chat() {
        let page = vod_page("abc123", "the match", false, true).0;
        assert!(page.contains(r#"data-chat="/api/v1/videos/abc123/chat""#));
    }
}
