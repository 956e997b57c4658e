//! `tributary video upload --wait`: after the upload bar, the transcode's
//! progress on stderr (one line each time it moves) until the video is
//! ready, or plays with nothing left to do, or failed.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::Api;
use super::video::video_path;

const POLL: Duration = Duration::from_secs(1);

/// Waits for the video's processing to end; returns the video then.
pub async fn wait(api: &Api, video_id: &str) -> anyhow::Result<Value> {
    let mut shown = String::new();
    loop {
        let status = api
            .send(api.request(
                Method::GET,
                &format!("{}/transcode-status", video_path(video_id)),
            ))
            .await?;
        let line = describe(&status);
        if line != shown {
            eprintln!("{line}");
            shown = line;
        }
        if settled(&status) {
            return api
                .send(api.request(Method::GET, &video_path(video_id)))
                .await;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Nothing more will happen without someone asking (a retry): ready,
/// failed, or playable with every rendition ended and one failed (with
/// none failed, the poster is still being made and `ready` comes next).
fn settled(status: &Value) -> bool {
    match status["status"].as_str() {
        Some("ready" | "failed") => true,
        Some("partially_ready") => status["renditions"].as_array().is_some_and(|all| {
            let states: Vec<&str> = all.iter().filter_map(|r| r["state"].as_str()).collect();
            states.len() == all.len()
                && states.iter().all(|s| matches!(*s, "done" | "failed"))
                && states.contains(&"failed")
        }),
        _ => false,
    }
}

/// `processing 42% (ETA 1m 05s): 360p done, 720p 30%`.
fn describe(status: &Value) -> String {
    let state = status["status"].as_str().unwrap_or("?");
    let percent = status["percent"].as_f64().unwrap_or(0.0);
    let mut line = format!("{state} {percent:.0}%");
    if let Some(eta) = status["eta_secs"].as_f64() {
        let eta = eta.round() as u64;
        line += &format!(" (ETA {}m {:02}s)", eta / 60, eta % 60);
    }
    let renditions: Vec<String> = status["renditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or("?");
            match r["state"].as_str() {
                Some("running") => format!("{name} {:.0}%", r["percent"].as_f64().unwrap_or(0.0)),
                Some(state) => format!("{name} {state}"),
                None => name.to_owned(),
            }
        })
        .collect();
    if !renditions.is_empty() {
        line += ": ";
        line += &renditions.join(", ");
    }
    line
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lines_and_ends() {
        let running = json!({"status": "partially_ready", "percent": 62.5, "eta_secs": 65.2, "renditions": [
            {"name": "480p", "state": "done", "percent": 100.0},
            {"name": "360p", "state": "running", "percent": 25.0},
        ]});
        assert_eq!(
            describe(&running),
            "partially_ready 62% (ETA 1m 05s): 480p done, 360p 25%"
        );
        assert!(!settled(&running));
        let failed_rung = json!({"status": "partially_ready", "renditions": [
            {"name": "480p", "state": "done"}, {"name": "360p", "state": "failed"}]});
        assert!(settled(&failed_rung));
        let poster_to_come = json!({"status": "partially_ready", "renditions": [
            {"name": "480p", "state": "done"}, {"name": "360p", "state": "done"}]});
        assert!(!settled(&poster_to_come));
        assert!(settled(&json!({"status": "ready"})));
        assert!(!settled(&json!({"status": "queued", "renditions": []})));
        assert_eq!(
            describe(&json!({"status": "queued", "percent": 0.0})),
            "queued 0%"
        );
    }
}
