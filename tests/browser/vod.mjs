// Plays a VOD asset in headless Chromium and reports, as one JSON line, what
// the player saw: with hls.js on the watch page (`hls`), or with dash.js on
// the asset's MPD (`dash`, loaded into the same page, so same origin).
// With CROSS_AT, it also plays from CROSS_AT seconds for 3 s (across a
// discontinuity, say) and reports where it got (`crossed`).
//   node vod.mjs WATCH_PAGE_URL hls|dash [CROSS_AT]
import { launch, pageLog } from './chromium.mjs';

const DASH_JS = new URL('./node_modules/dashjs/dist/modern/umd/dash.all.min.js', import.meta.url).pathname;
const [url, mode, crossAt] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  const logs = pageLog(page);
  await page.goto(url);
  if (mode === 'dash') {
    await page.evaluate(() => window.tributary.hls?.destroy());
    await page.addScriptTag({ path: DASH_JS });
    await page.evaluate(() => {
      const master = document.querySelector('script[data-master]').dataset.master;
      const player = dashjs.MediaPlayer().create();
      window.dashPlayer = player;
      player.initialize(window.tributary.video, master.replace('master.m3u8', 'manifest.mpd'), false);
    });
  }
  await page.waitForFunction(() => window.tributary.video.readyState >= 1, null, { timeout: 30000 });
  await page.evaluate(() => { const v = window.tributary.video; v.muted = true; return v.play(); });
  await page.waitForFunction(() => window.tributary.video.currentTime > 0.5, null, { timeout: 30000 });
  const state = () => page.evaluate(() => {
    const v = window.tributary.video;
    const hls = window.tributary.hls;
    return {
      currentTime: v.currentTime,
      duration: v.duration,
      width: v.videoWidth,
      height: v.videoHeight,
      levels: hls ? hls.levels.map((l) => l.height) : null,
      representations: window.dashPlayer
        ? window.dashPlayer.getRepresentationsByType('video').map((r) => r.height) : null,
      audioTracks: window.dashPlayer ? window.dashPlayer.getTracksFor('audio').length
        : (hls ? hls.audioTracks.length : null),
      qualities: Array.from(document.querySelectorAll('#quality option'), (o) => o.textContent),
      poster: v.poster,
      cues: window.tributary.cues.length,
      previewAt3: window.tributary.previewAt(3.5),
      errors: window.tributary.errors,
      ended: v.ended,
    };
  });
  const started = await state();
  let crossed = null;
  if (crossAt !== undefined) {
    const from = Number(crossAt);
    await page.evaluate((at) => { window.tributary.video.currentTime = at; }, from);
    await page.waitForFunction((at) => window.tributary.video.currentTime > at + 3, from, { timeout: 30000 });
    crossed = await state();
  }
  // Seek to 2 s before the end: playback resumes there and reaches the end.
  await page.evaluate(() => { const v = window.tributary.video; v.currentTime = Math.max(0, v.duration - 2); });
  await page.waitForFunction(() => window.tributary.video.ended, null, { timeout: 30000 });
  const ended = await state();
  console.log(JSON.stringify({ started, crossed, ended, logs: logs.slice(-20) }));
} finally {
  await browser.close();
}
