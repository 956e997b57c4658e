//! The chat panel of the watch page in headless Chromium, beside a Rust
//! WebSocket client in the same room.

mod support;

use serde_json::{Value, json};

use support::Server;
use support::chat_client::ChatClient;

const SCRIPT: &str = "<script>window.__xss=1</script>";
const IMG: &str = "<img src=x onerror=\"window.__xss=2\">";
/// What the Rust client says; markup in it must show as text too.
const FROM_RUST: &str = "hello from rust <b>bold</b> & more";

/// Runs tests/browser/chat.mjs: joins `url`'s chat as `name` and waits for
/// `expected` texts from other clients; returns its JSON report.
async fn chat_page(url: String, name: &str, expected: &[&str]) -> Value {
    let mut args = vec![url, name.to_owned()];
    args.extend(expected.iter().map(|t| t.to_string()));
    support::node_script("tests/browser/chat.mjs", args, &[]).await
}

#[tokio::test]
async fn the_chat_panel_shows_messages_as_text_and_fits_a_phone() {
    let server = Server::start(&[]).await;
    let (stream, _) = server.create_stream("chat page").await;
    let mut rust = ChatClient::connect(&server, &stream, "name=rusty").await;
    // The page greets the room once it has joined; the Rust client answers.
    let answer = async {
        let greeting = rust.message_saying("hello from ada").await;
        assert_eq!(greeting["user"], json!({"name": "ada", "role": "viewer"}));
        rust.say(FROM_RUST).await;
    };
    let (report, ()) = tokio::join!(
        chat_page(server.url(&format!("/watch/{stream}")), "ada", &[FROM_RUST]),
        answer
    );

    let texts: Vec<&str> = report["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [SCRIPT, IMG, "hello from ada", FROM_RUST],
        "every message shown literally, in order: {report}"
    );
    assert_eq!(
        report["markup"], 0,
        "no element made of message text: {report}"
    );
    assert_eq!(report["xss"], "undefined", "{report}");
    assert_eq!(report["errors"], json!([]), "{report}");
    assert!(report["viewers"].is_u64(), "{report}");
    assert!(
        report["viewersShown"]
            .as_str()
            .unwrap()
            .ends_with(" watching"),
        "{report}"
    );
    assert_eq!(
        report["rejoinedAs"], "ada",
        "the name is remembered: {report}"
    );
    assert_eq!(report["textsAfterReload"], report["texts"], "{report}");

    // At 390x844: nothing wider than the screen, the input below the player and on screen.
    let phone = &report["phone"];
    let (width, height) = (390.0, 844.0);
    let f = |v: &Value| v.as_f64().unwrap();
    assert!(f(&phone["scrollWidth"]) <= width, "{phone}");
    for part in ["video", "input", "send"] {
        let b = &phone[part];
        assert!(
            f(&b["x"]) >= 0.0 && f(&b["x"]) + f(&b["width"]) <= width,
            "{part}: {phone}"
        );
        assert!(
            f(&b["y"]) >= 0.0 && f(&b["y"]) + f(&b["height"]) <= height,
            "{part}: {phone}"
        );
        assert!(
            f(&b["width"]) > 40.0 && f(&b["height"]) > 20.0,
            "{part}: {phone}"
        );
    }
    let video_bottom = f(&phone["video"]["y"]) + f(&phone["video"]["height"]);
    assert!(
        f(&phone["input"]["y"]) >= video_bottom,
        "chat below the player: {phone}"
    );
}
