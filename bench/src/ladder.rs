//! `ladder`: the live ladder (GStreamer, in process) against ffmpeg running
//! the same ladder, over a 720p30 and a 1080p30 source file: realtime factor
//! and CPU-seconds run as fast as possible (batch mode), output quality
//! (SSIM against a Lanczos downscale of the source), then the ladder in live
//! mode fed in real time: CPU use and the latency a transcoded rung adds.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use ingest::ts::TsDemuxer;
use ingest::{Frame, MediaEvent, TrackKind, VideoConfig};
use tributary::ladder::{
    LadderEvent, LadderMode, LiveLadder, OverloadPolicy, Rung, ScaleMethod, Tuning, default_rungs,
    rung_width, rungs_for_source,
};

use crate::process::Cpu;
use crate::stats::summarize;

/// Source frame rate and GOP (1 s).
const FPS: u32 = 30;
/// Seconds compared for SSIM (the start of each output).
const SSIM_SECONDS: u32 = 10;
/// Longest live run.
const LIVE_SECONDS: u32 = 20;
/// Live latency is measured after this.
const WARMUP: Duration = Duration::from_secs(1);
/// Timed runs of each variant (interleaved, medians reported).
const REPEATS: usize = 9;

pub fn run(dir: &Path, seconds: u32) -> anyhow::Result<()> {
    let tuning = Tuning::default();
    let variants = [
        Variant {
            label: "ffmpeg: split, scale every rung from the source",
            ffmpeg: true,
            tuning: tuning.clone(),
        },
        Variant {
            label: "ffmpeg, swscale `bilinear` (area-aware) for reference",
            ffmpeg: true,
            tuning: Tuning {
                scale: ScaleMethod::AreaBilinear,
                ..tuning.clone()
            },
        },
        Variant {
            label: "ladder, every rung scaled from the source",
            ffmpeg: false,
            tuning: Tuning {
                cascade: false,
                ..tuning.clone()
            },
        },
        Variant {
            label: "ladder, each rung scaled from the next larger (default)",
            ffmpeg: false,
            tuning: tuning.clone(),
        },
    ];
    println!("## ladder: {seconds} s testsrc2 at {FPS} fps (x264 veryfast zerolatency, 1 s GOP)");
    println!(
        "x264 on both sides: preset {}, tune zerolatency, no B-frames, keyframes where the source has \
         them (1 s), bitrate = maxrate, VBV {} ms. Threads: ffmpeg auto; ours one x264 thread per \
         rung up to {}p and one decoder thread for sources up to {}p, libraries' choice above. Scaling: videoscale `{}` = swscale `{}` unless noted. Medians \
         of {REPEATS} interleaved runs.",
        tuning.preset,
        tuning.vbv_ms,
        tuning.encoder_single_thread_max_height,
        tuning.decoder_single_thread_max_height,
        tuning.scale.gst_nick(),
        tuning.scale.swscale_flag()
    );
    for (size, height, source_kbps) in [("1280x720", 720, 4000), ("1920x1080", 1080, 6000)] {
        let path = dir.join(format!("source-{height}p.ts"));
        make_source(size, seconds, source_kbps, &path)?;
        let (config, frames) = demux(&path)?;
        let rungs = rungs_for_source(&default_rungs(), height);
        let names: Vec<&str> = rungs.iter().map(|r| r.name.as_str()).collect();
        println!("\n### {size} source, transcoded rungs {}", names.join(" "));
        let mut measures: Vec<Vec<Measure>> = variants.iter().map(|_| Vec::new()).collect();
        for _ in 0..REPEATS {
            for (index, variant) in variants.iter().enumerate() {
                let out = dir.join(format!("run-{index}"));
                let measure = if variant.ffmpeg {
                    run_ffmpeg(&path, &config, &rungs, &variant.tuning, &out)?
                } else {
                    run_ours(&config, &frames, &rungs, &variant.tuning, &out)?
                };
                measures[index].push(measure);
            }
        }
        report(
            &variants,
            &measures,
            &rungs,
            &config,
            &path,
            f64::from(seconds),
        )?;
        live(&config, &frames, &rungs, &tuning, seconds.min(LIVE_SECONDS))?;
    }
    Ok(())
}

/// One way of making the ladder.
struct Variant {
    label: &'static str,
    /// ffmpeg instead of the ladder, with the same settings.
    ffmpeg: bool,
    tuning: Tuning,
}

/// Speed, CPU and quality of each variant against the first (ffmpeg's).
fn report(
    variants: &[Variant],
    measures: &[Vec<Measure>],
    rungs: &[Rung],
    config: &VideoConfig,
    source: &Path,
    media_seconds: f64,
) -> anyhow::Result<()> {
    let Some(baseline) = measures.first() else {
        return Ok(());
    };
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let header: String = rungs
        .iter()
        .map(|r| format!(" SSIM {} |", r.name))
        .collect();
    println!(
        "| run | wall s | realtime x | CPU-s | speed ratio | CPU ratio | CPU ratio per run | rounds with less CPU than ffmpeg |{header}"
    );
    println!(
        "|---|---|---|---|---|---|---|---|{}",
        "---|".repeat(rungs.len())
    );
    for (variant, runs) in variants.iter().zip(measures) {
        let wall = median(runs.iter().map(|m| m.wall).collect());
        let cpu = median(runs.iter().map(|m| m.cpu).collect());
        // Ratios against ffmpeg's run of the same round: the machine's speed drifts
        // between rounds more than the variants differ.
        let cpu_ratios: Vec<f64> = runs
            .iter()
            .zip(baseline)
            .map(|(m, b)| m.cpu / b.cpu)
            .collect();
        let speed_ratio = median(
            runs.iter()
                .zip(baseline)
                .map(|(m, b)| b.wall / m.wall)
                .collect(),
        );
        let per_run: Vec<String> = cpu_ratios.iter().map(|r| format!("{r:.3}")).collect();
        let cheaper = cpu_ratios.iter().filter(|&&r| r < 1.0).count();
        let cpu_ratio = median(cpu_ratios);
        let mut scores = String::new();
        for rung in rungs {
            let width = rung_width(config.width, config.height, rung.height);
            let file = runs
                .last()
                .and_then(|m| m.files.get(&rung.name))
                .context("rung output")?;
            scores += &format!(" {:.4} |", ssim(file, source, width, rung.height)?);
        }
        println!(
            "| {} | {wall:.2} | {:.2} | {cpu:.2} | {:.3} | {:.3} | {} | {cheaper} of {} |{scores}",
            variant.label,
            media_seconds / wall,
            speed_ratio,
            cpu_ratio,
            per_run.join(" "),
            runs.len()
        );
    }
    println!(
        "(wall s, CPU-s: medians; speed ratio = median of ffmpeg's wall time / this run's, CPU ratio = \
         median of this run's CPU-seconds / ffmpeg's, each against ffmpeg's run of the same round; \
         SSIM (All) of the first {SSIM_SECONDS} s against the source scaled with Lanczos, higher is better)"
    );
    Ok(())
}

/// One timed run: wall and CPU seconds, and each rung's output file.
struct Measure {
    wall: f64,
    cpu: f64,
    files: HashMap<String, PathBuf>,
}

fn make_source(size: &str, seconds: u32, kbps: u32, path: &Path) -> anyhow::Result<()> {
    let gop = FPS.to_string();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-nostdin"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate={FPS}"),
        ])
        .args(["-t", &seconds.to_string(), "-c:v", "libx264"])
        // zerolatency: no B-frames, as a live encoder sends them
        // (reordering would add its delay to every rung's latency).
        .args(["-preset", "veryfast", "-tune", "zerolatency"])
        .args(["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0"])
        .args([
            "-b:v",
            &format!("{kbps}k"),
            "-pix_fmt",
            "yuv420p",
            "-f",
            "mpegts",
        ])
        .arg(path)
        .status()?;
    ensure!(status.success(), "ffmpeg could not make {}", path.display());
    Ok(())
}

/// The video config and frames of an MPEG-TS file.
fn demux(path: &Path) -> anyhow::Result<(VideoConfig, Vec<Frame>)> {
    let mut demuxer = TsDemuxer::new();
    demuxer.push(&std::fs::read(path)?);
    demuxer.flush();
    let mut config = None;
    let mut frames = Vec::new();
    while let Some(event) = demuxer.poll() {
        match event? {
            MediaEvent::Video(video) => config = Some(video),
            MediaEvent::Frame(frame) if frame.kind == TrackKind::Video => frames.push(frame),
            _ => {}
        }
    }
    Ok((config.context("no video in the source")?, frames))
}

/// The ladder in batch mode, every frame pushed as fast as it takes them;
/// a thread writes each rung's output to an Annex B file.
fn run_ours(
    config: &VideoConfig,
    frames: &[Frame],
    rungs: &[Rung],
    tuning: &Tuning,
    dir: &Path,
) -> anyhow::Result<Measure> {
    std::fs::create_dir_all(dir)?;
    let files: HashMap<String, PathBuf> = rungs
        .iter()
        .map(|r| (r.name.clone(), dir.join(format!("{}.h264", r.name))))
        .collect();
    let (events, received) = tokio::sync::mpsc::unbounded_channel();
    let writer_files = files.clone();
    let cpu_before = Cpu::of_self()?;
    let start = Instant::now();
    let writer = std::thread::spawn(move || write_annex_b(received, &writer_files));
    let mut ladder = LiveLadder::start_tuned(
        config,
        rungs.to_vec(),
        LadderMode::Batch,
        tuning.clone(),
        OverloadPolicy::default(),
        events,
    )?;
    for frame in frames {
        ladder.push(frame);
    }
    ladder.finish()?;
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    let wall = start.elapsed().as_secs_f64();
    let cpu = Cpu::of_self()?.own - cpu_before.own;
    for rung in rungs {
        let count = written.get(&rung.name).copied().unwrap_or(0);
        ensure!(
            count == frames.len(),
            "{}: {count} of {} frames",
            rung.name,
            frames.len()
        );
    }
    Ok(Measure { wall, cpu, files })
}

/// Writes every rung's frames as Annex B until the ladder is gone; returns
/// the frame count per rung.
fn write_annex_b(
    mut events: tokio::sync::mpsc::UnboundedReceiver<LadderEvent>,
    files: &HashMap<String, PathBuf>,
) -> anyhow::Result<HashMap<String, usize>> {
    let mut outputs = HashMap::new();
    for (name, path) in files {
        outputs.insert(
            name.clone(),
            std::io::BufWriter::new(std::fs::File::create(path)?),
        );
    }
    let mut counts = HashMap::new();
    while let Some(event) = events.blocking_recv() {
        match event {
            LadderEvent::Config { rung, config } => {
                let out = outputs.get_mut(&*rung).context("unknown rung")?;
                for set in parameter_sets(&config.record)? {
                    out.write_all(&[0, 0, 0, 1])?;
                    out.write_all(set)?;
                }
            }
            LadderEvent::Frame { rung, frame } => {
                let out = outputs.get_mut(&*rung).context("unknown rung")?;
                let mut rest = &frame.data[..];
                while let Some((len, tail)) = rest.split_first_chunk::<4>() {
                    let len = u32::from_be_bytes(*len) as usize;
                    let nal = tail.get(..len).context("bad NAL length")?;
                    out.write_all(&[0, 0, 0, 1])?;
                    out.write_all(nal)?;
                    rest = &tail[len..];
                }
                *counts.entry(rung.to_string()).or_insert(0) += 1;
            }
            other => bail!("unexpected in batch mode: {other:?}"),
        }
    }
    for out in outputs.values_mut() {
        out.flush()?;
    }
    Ok(counts)
}

/// The SPS and PPS NAL units of an avcC record.
fn parameter_sets(record: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    let mut sets = Vec::new();
    let mut pos = 5;
    for _ in 0..2 {
        let count = usize::from(record.get(pos).context("avcC")? & 0x1f);
        pos += 1;
        for _ in 0..count {
            let len = record.get(pos..pos + 2).context("avcC")?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            sets.push(record.get(pos + 2..pos + 2 + len).context("avcC")?);
            pos += 2 + len;
        }
    }
    Ok(sets)
}

/// The same ladder in one ffmpeg process: one decode, split, a scale per
/// rung with the same algorithm, libx264 with the same settings.
fn run_ffmpeg(
    source: &Path,
    config: &VideoConfig,
    rungs: &[Rung],
    tuning: &Tuning,
    dir: &Path,
) -> anyhow::Result<Measure> {
    std::fs::create_dir_all(dir)?;
    let labels: String = (0..rungs.len()).map(|i| format!("[s{i}]")).collect();
    let mut graph = format!("[0:v]split={}{labels}", rungs.len());
    for (i, rung) in rungs.iter().enumerate() {
        let width = rung_width(config.width, config.height, rung.height);
        graph += &format!(
            ";[s{i}]scale={width}:{}:flags={},setsar=1[o{i}]",
            rung.height,
            tuning.scale.swscale_flag()
        );
    }
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-y", "-nostdin", "-i"])
        .arg(source)
        .args(["-filter_complex", &graph]);
    let mut files = HashMap::new();
    for (i, rung) in rungs.iter().enumerate() {
        let kbps = format!("{}k", rung.bitrate_kbps);
        let bufsize = format!(
            "{}k",
            u64::from(rung.bitrate_kbps) * u64::from(tuning.vbv_ms) / 1000
        );
        let path = dir.join(format!("{}.h264", rung.name));
        command
            .args([
                "-map",
                &format!("[o{i}]"),
                "-c:v",
                "libx264",
                "-preset",
                tuning.preset,
            ])
            .args(["-tune", "zerolatency", "-bf", "0", "-g", &FPS.to_string()])
            .args([
                "-sc_threshold",
                "0",
                "-b:v",
                &kbps,
                "-maxrate",
                &kbps,
                "-bufsize",
                &bufsize,
            ])
            .args(["-f", "h264"])
            .arg(&path);
        files.insert(rung.name.clone(), path);
    }
    let cpu_before = Cpu::of_self()?;
    let start = Instant::now();
    let status = command.status()?;
    let wall = start.elapsed().as_secs_f64();
    ensure!(status.success(), "ffmpeg ladder failed");
    let cpu = Cpu::of_self()?.children - cpu_before.children;
    Ok(Measure { wall, cpu, files })
}

/// SSIM (All) of the first seconds of `output` against the source scaled
/// to the same size with Lanczos.
fn ssim(output: &Path, source: &Path, width: u32, height: u32) -> anyhow::Result<f64> {
    ssim_against(
        &["-framerate", &FPS.to_string()],
        output,
        source,
        width,
        height,
        SSIM_SECONDS,
    )
}

/// SSIM of the first `seconds` of `output` (read with `input_args`, e.g. a
/// frame rate for a raw stream) against `source` scaled to its size with
/// Lanczos.
pub fn ssim_against(
    input_args: &[&str],
    output: &Path,
    source: &Path,
    width: u32,
    height: u32,
    seconds: u32,
) -> anyhow::Result<f64> {
    let graph = format!(
        "[0:v]setpts=PTS-STARTPTS[a];[1:v]setpts=PTS-STARTPTS,scale={width}:{height}:flags=lanczos,setsar=1[b];[a][b]ssim"
    );
    let result = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin"])
        .args(input_args)
        .arg("-i")
        .arg(output)
        .arg("-i")
        .arg(source)
        .args([
            "-t",
            &seconds.to_string(),
            "-lavfi",
            &graph,
            "-f",
            "null",
            "-",
        ])
        .stdout(Stdio::null())
        .output()?;
    let log = String::from_utf8_lossy(&result.stderr);
    let all = log
        .lines()
        .filter_map(|line| line.split("All:").nth(1))
        .next_back()
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("no SSIM from ffmpeg: {log}"))?;
    Ok(all.parse()?)
}

/// The ladder in live mode, fed in real time: the cores it uses and the
/// latency each rung adds (push of a source frame to that rung's output).
fn live(
    config: &VideoConfig,
    frames: &[Frame],
    rungs: &[Rung],
    tuning: &Tuning,
    seconds: u32,
) -> anyhow::Result<()> {
    let count = (seconds * FPS) as usize;
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let (arrivals, arrived) = mpsc::channel();
    let receiver = std::thread::spawn(move || {
        while let Some(event) = received.blocking_recv() {
            // The test ends when the ladder is gone.
            let _ = arrivals.send((Instant::now(), event));
        }
    });
    let cpu_before = Cpu::of_self()?;
    let start = Instant::now();
    let mut ladder = LiveLadder::start_tuned(
        config,
        rungs.to_vec(),
        LadderMode::Live,
        tuning.clone(),
        OverloadPolicy::default(),
        events,
    )?;
    let mut pushed_at = HashMap::new();
    for (n, frame) in frames.iter().take(count).enumerate() {
        let due = start + Duration::from_secs(1) * n as u32 / FPS;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        pushed_at.insert(frame.pts, Instant::now());
        ladder.push(frame);
    }
    let shed: Vec<String> = ladder
        .status()
        .rungs
        .into_iter()
        .filter(|r| r.state != tributary::ladder::RungState::Encoding)
        .map(|r| r.name)
        .collect();
    ladder.finish()?;
    let wall = start.elapsed().as_secs_f64();
    let cpu = Cpu::of_self()?.own - cpu_before.own;
    receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))?;
    // Startup (pipeline and encoder creation) aside: frames pushed in the
    // first second are not counted.
    let steady = start + WARMUP;
    let mut latencies: HashMap<String, Vec<f64>> = HashMap::new();
    let mut first_out = None;
    let mut notices = Vec::new();
    for (at, event) in arrived.try_iter() {
        match event {
            LadderEvent::Frame { rung, frame } => {
                first_out.get_or_insert(at.duration_since(start));
                if let Some(&pushed) = pushed_at.get(&frame.pts)
                    && pushed >= steady
                {
                    let ms = at.duration_since(pushed).as_secs_f64() * 1000.0;
                    latencies.entry(rung.to_string()).or_default().push(ms);
                }
            }
            LadderEvent::Config { .. } => {}
            other => notices.push(format!("{other:?}")),
        }
    }
    println!(
        "\nLive mode, fed in real time for {seconds} s: {:.2} of 2 cores ({:.0}% CPU), first frame out \
         {:.0} ms after start, shed at the end: {shed:?}, events: {notices:?}",
        cpu / wall,
        cpu / wall * 100.0,
        first_out.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
    );
    println!("| rung | frames after the first second | latency p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for rung in rungs {
        let values = latencies.remove(&rung.name).unwrap_or_default();
        match summarize(values) {
            Some(s) => println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} |",
                rung.name, s.count, s.p50, s.p99, s.max
            ),
            None => println!("| {} | 0 | | | |", rung.name),
        }
    }
    Ok(())
}
