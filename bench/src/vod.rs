//! `tributary-bench vod [seconds] [--jobs]`: the VOD ladder on two uploads
//! made by ffmpeg beforehand (default 60 s each; the figure is 600):
//! 1080p30 with noise, so that x264 works as on camera footage, as H.264 +
//! AAC and as HEVC + AAC. For each, in one run:
//! - Baseline: ffmpeg making the same renditions in one command (one decode,
//!   `split`, `scale`, the same x264 preset, bitrates, no B-frames, the same
//!   keyframes).
//! - An upload to `tributary serve` (one worker, default settings): from the
//!   upload's last byte to playable (`partially_ready`) and to `ready`, and
//!   the CPU seconds the server and its job children used meanwhile. The
//!   ratios against ffmpeg, and SSIM of each rung against the source, ours
//!   (read from the server's storage) and ffmpeg's.
//! - With `--jobs`, also the jobs' work alone, with `tributary
//!   transcode-source` (the child the workers run) and the specs the
//!   server's plan gives that source, against the same ffmpeg run:
//!   - H.264: the 1080p source repackaged (the `first` job), then 720p, 480p
//!     and 360p encoded with keyframes at the source's (the `ladder` job).
//!   - HEVC: every rung in one decode with keyframes every 2 s (the `first`
//!     job, 360p and the audio published as they are made).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::ladder::ssim_against;
use crate::process::Cpu;
use crate::server::Server;
use crate::upload::{api, tus_upload};

/// The server's default VOD rungs up to 1080p: name, width, height, kbit/s.
const RUNGS: [(&str, u32, u32, u32); 4] = [
    ("1080p", 1920, 1080, 5000),
    ("720p", 1280, 720, 2800),
    ("480p", 854, 480, 1400),
    ("360p", 640, 360, 800),
];
const PRESET: &str = "medium";
/// Seconds of each rung compared for SSIM.
const SSIM_SECONDS: u32 = 10;

struct Source {
    label: &'static str,
    file: PathBuf,
    /// Its 1080p rung is the source repackaged, not an encode.
    h264: bool,
}

pub async fn run(binary: &Path, dir: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut seconds = 60;
    let mut jobs = false;
    for arg in args {
        match arg.as_str() {
            "--jobs" => jobs = true,
            number => seconds = number.parse().context("vod [seconds] [--jobs]")?,
        }
    }
    let sources = [
        Source {
            label: "H.264",
            file: dir.join("h264.mp4"),
            h264: true,
        },
        Source {
            label: "HEVC",
            file: dir.join("hevc.mp4"),
            h264: false,
        },
    ];
    println!("VOD ladder on {seconds} s 1080p30 uploads with noise (x264 {PRESET})");
    for source in &sources {
        make_source(source, seconds)?;
        let theirs_dir = dir.join(format!("{}-ffmpeg", source.label));
        let theirs = timed(ffmpeg_ladder(source, &theirs_dir)?)?;
        let served = end_to_end(binary, dir, source, seconds).await?;
        println!(
            "\n{} source, {seconds} s: an upload to tributary serve (one worker) against ffmpeg's one command",
            source.label
        );
        header();
        row(
            "tributary serve, last byte to ready",
            served.ready,
            Some(theirs),
        );
        row("ffmpeg, one command", theirs, None);
        println!(
            "playable {:.2} s and ready {:.1} s after the last byte; realtime factor {:.2}x tributary, {:.2}x ffmpeg",
            served.playable,
            served.ready.wall,
            f64::from(seconds) / served.ready.wall,
            f64::from(seconds) / theirs.wall
        );
        print_ssim(source, &served.renditions, &theirs_dir)?;
        if jobs {
            compare_jobs(binary, dir, source, theirs)?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default)]
struct Timed {
    wall: f64,
    cpu: f64,
}

impl Timed {
    fn add(self, other: Timed) -> Timed {
        Timed {
            wall: self.wall + other.wall,
            cpu: self.cpu + other.cpu,
        }
    }
}

/// The jobs' work, run alone, against ffmpeg's one command.
fn compare_jobs(binary: &Path, dir: &Path, source: &Source, theirs: Timed) -> anyhow::Result<()> {
    let out = dir.join(format!("{}-jobs", source.label));
    let uri = format!("file://{}", source.file.display());
    let encode = |rungs: &[(&str, u32, u32, u32)]| -> Vec<Value> {
        rungs
            .iter()
            .map(|(name, width, height, kbps)| {
                json!({"mode": "encode", "name": name, "width": width, "height": height, "bitrate_kbps": kbps})
            })
            .collect()
    };
    let spec = |video: Vec<Value>, audio: Value, keyframes: Value| {
        json!({"video": video, "audio": [audio], "keyframes": keyframes, "segment_secs": 4.0,
               "preset": PRESET, "max_fps": 60})
    };
    let jobs = if source.h264 {
        let source_keyframes = json!({"at": "source"});
        vec![
            (
                "first job: 1080p repackaged, audio",
                spec(
                    vec![json!({"mode": "copy", "name": "1080p"})],
                    json!({"mode": "copy", "name": "audio"}),
                    source_keyframes.clone(),
                ),
            ),
            (
                "ladder job: 720p, 480p, 360p",
                json!({"video": encode(&RUNGS[1..]), "keyframes": source_keyframes,
                       "segment_secs": 4.0, "preset": PRESET, "max_fps": 60}),
            ),
        ]
    } else {
        let mut first = spec(
            encode(&RUNGS),
            json!({"mode": "copy", "name": "audio"}),
            json!({"at": "every", "secs": 2.0}),
        );
        first["early"] = json!(["360p", "audio"]);
        vec![("first job: every rung in one decode, audio", first)]
    };
    println!("{} source: the jobs alone", source.label);
    header();
    let mut ours = Timed::default();
    for (label, spec) in &jobs {
        let job = timed(transcode(binary, &uri, &out, spec))?;
        ours = ours.add(job);
        row(label, job, None);
    }
    row("tributary, all jobs", ours, Some(theirs));
    Ok(())
}

fn header() {
    println!(
        "{:<40} {:>9} {:>9} {:>10} {:>10}",
        "", "seconds", "CPU s", "wall ratio", "CPU ratio"
    );
}

/// SSIM of each encoded rung against the source, ours and ffmpeg's.
fn print_ssim(source: &Source, ours: &Path, theirs: &Path) -> anyhow::Result<()> {
    print!("SSIM against the source (first {SSIM_SECONDS} s):");
    for (name, width, height, _) in RUNGS {
        if source.h264 && name == "1080p" {
            continue;
        }
        let rendition = concatenated(&ours.join(name))?;
        let ours = ssim_against(&[], &rendition, &source.file, width, height, SSIM_SECONDS)?;
        let theirs = ssim_against(
            &[],
            &theirs.join(format!("{name}.mp4")),
            &source.file,
            width,
            height,
            SSIM_SECONDS,
        )?;
        print!(" {name} {ours:.4} (ffmpeg {theirs:.4});");
    }
    println!();
    Ok(())
}

/// A rendition's init segment and media segments, as one MP4 file.
fn concatenated(folder: &Path) -> anyhow::Result<PathBuf> {
    let mut bytes = std::fs::read(folder.join("init.mp4"))?;
    let mut segments: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "m4s"))
        .collect();
    segments.sort();
    for segment in segments {
        bytes.extend(std::fs::read(segment)?);
    }
    let file = folder.with_extension("mp4");
    std::fs::write(&file, bytes)?;
    Ok(file)
}

/// What an upload to `tributary serve` took, from its last byte.
struct Served {
    playable: f64,
    /// To `ready`: wall seconds, and the CPU seconds of the server and of
    /// its job children.
    ready: Timed,
    /// The folder of the video's renditions in the server's storage.
    renditions: PathBuf,
}

async fn end_to_end(
    binary: &Path,
    dir: &Path,
    source: &Source,
    seconds: u32,
) -> anyhow::Result<Served> {
    let server_dir = dir.join(format!("{}-server", source.label));
    std::fs::create_dir_all(&server_dir)?;
    let server = Server::start_with(binary, &server_dir, &["--workers".into(), "1".into()]).await?;
    tus_upload(&server, &source.file, None).await?;
    let uploaded = Instant::now();
    let cpu_before = Cpu::of(server.pid())?;
    let list = api(
        &server,
        reqwest::Method::GET,
        "/api/v1/videos?limit=1",
        None,
    )
    .await?;
    let id = list["videos"][0]["id"]
        .as_str()
        .context("video id")?
        .to_owned();
    let mut playable = None;
    let deadline = uploaded + Duration::from_secs(u64::from(seconds) * 30 + 120);
    let ready = loop {
        let video = api(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/videos/{id}"),
            None,
        )
        .await?;
        match video["status"].as_str() {
            Some("partially_ready") => {
                playable.get_or_insert_with(|| uploaded.elapsed());
            }
            Some("ready") => {
                playable.get_or_insert_with(|| uploaded.elapsed());
                break uploaded.elapsed();
            }
            Some("failed") => bail!("the upload failed: {video}"),
            _ => {}
        }
        ensure!(
            Instant::now() < deadline,
            "the upload never became ready: {video}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu = Cpu::of(server.pid())?.total() - cpu_before.total();
    let renditions = find_folder(&server_dir.join("data"), "media")?
        .with_context(|| format!("no media folder in {}", server_dir.display()))?;
    Ok(Served {
        playable: playable.unwrap_or(ready).as_secs_f64(),
        ready: Timed {
            wall: ready.as_secs_f64(),
            cpu,
        },
        renditions,
    })
}

/// The first folder called `name` below `root`.
fn find_folder(root: &Path, name: &str) -> anyhow::Result<Option<PathBuf>> {
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == name) {
            return Ok(Some(path));
        }
        if let Some(found) = find_folder(&path, name)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn row(label: &str, timed: Timed, baseline: Option<Timed>) {
    let (wall, cpu) = baseline.map_or((String::new(), String::new()), |b| {
        (
            format!("{:.2}", timed.wall / b.wall),
            format!("{:.2}", timed.cpu / b.cpu),
        )
    });
    println!(
        "{label:<40} {:>9.1} {:>9.1} {wall:>10} {cpu:>10}",
        timed.wall, timed.cpu
    );
}

/// Runs `command` to its end: wall seconds, and the CPU seconds it and its
/// children used.
fn timed(mut command: Command) -> anyhow::Result<Timed> {
    let before = children_cpu();
    let started = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running a transcode")?;
    let wall = started.elapsed().as_secs_f64();
    ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Timed {
        wall,
        cpu: children_cpu() - before,
    })
}

/// CPU seconds of every child waited for so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Test pattern with temporal noise (camera-like work for x264), a tone,
/// keyframes every 2 s.
fn make_source(source: &Source, seconds: u32) -> anyhow::Result<()> {
    let codec: &[&str] = if source.h264 {
        &["-c:v", "libx264", "-preset", "veryfast", "-b:v", "5000k"]
    } else {
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-b:v",
            "4000k",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
        ]
    };
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string(), "-vf", "noise=alls=12:allf=t"])
        .args(["-ac", "2", "-pix_fmt", "yuv420p"])
        .args(codec)
        .args([
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-c:a",
            "aac",
        ])
        .arg(&source.file)
        .status()
        .context("ffmpeg")?;
    ensure!(
        status.success(),
        "making the {} source failed",
        source.label
    );
    Ok(())
}

fn transcode(binary: &Path, uri: &str, out: &Path, spec: &Value) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["transcode-source", "--source", uri, "--out"])
        .arg(out)
        .args(["--spec", &spec.to_string()]);
    command
}

/// ffmpeg making the renditions the jobs make in one command: for H.264
/// the source copied and three encodes at its keyframes; for HEVC four
/// encodes with keyframes every 2 s. Audio copied once.
fn ffmpeg_ladder(source: &Source, out: &Path) -> anyhow::Result<Command> {
    std::fs::create_dir_all(out)?;
    let encoded: &[(&str, u32, u32, u32)] = if source.h264 { &RUNGS[1..] } else { &RUNGS };
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&source.file);
    let scales: Vec<String> = encoded
        .iter()
        .enumerate()
        .map(|(i, (_, width, height, _))| format!("[s{i}]scale={width}:{height}[v{i}]"))
        .collect();
    let splits: String = (0..encoded.len()).map(|i| format!("[s{i}]")).collect();
    command.args([
        "-filter_complex",
        &format!("[0:v]split={}{splits};{}", encoded.len(), scales.join(";")),
    ]);
    let keyframes = if source.h264 {
        "source"
    } else {
        "expr:gte(t,n_forced*2)"
    };
    let fragmented = ["-f", "mp4", "-movflags", "+frag_keyframe+empty_moov"];
    // The server's VOD encoders shorten the preset's lookahead; so does the baseline.
    let lookahead = tributary::ladder::Tuning::vod(PRESET)
        .and_then(|tuning| tuning.rc_lookahead)
        .map(|frames| frames.to_string());
    for (i, (name, _, _, kbps)) in encoded.iter().enumerate() {
        let rate = format!("{kbps}k");
        let vbv = format!("{}k", kbps * 2);
        command
            .args([
                "-map",
                &format!("[v{i}]"),
                "-c:v",
                "libx264",
                "-preset",
                PRESET,
            ])
            .args(["-b:v", &rate, "-maxrate", &rate, "-bufsize", &vbv]);
        if let Some(frames) = &lookahead {
            command.args(["-rc-lookahead", frames]);
        }
        command
            .args([
                "-bf",
                "0",
                "-sc_threshold",
                "0",
                "-force_key_frames",
                keyframes,
            ])
            .args(["-an"])
            .args(fragmented)
            .arg(out.join(format!("{name}.mp4")));
    }
    if source.h264 {
        command
            .args(["-map", "0:v", "-c:v", "copy", "-an"])
            .args(fragmented)
            .arg(out.join("1080p.mp4"));
    }
    command
        .args(["-map", "0:a", "-c:a", "copy", "-vn"])
        .args(fragmented)
        .arg(out.join("audio.mp4"));
    Ok(command)
}
