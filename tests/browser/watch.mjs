// Opens the watch page in headless Chromium and reports, as one JSON line,
// whether hls.js played: currentTime before and after, hls.js latency samples,
// when it stalled.
//   node watch.mjs URL [seconds]
import { launch, pageLog } from './chromium.mjs';

const [url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 8);
const browser = await launch();
try {
  const page = await browser.newPage();
  const t0 = Date.now();
  const network = [];
  const path = (u) => u.replace(/^https?:\/\/[^/]+/, '');
  const logs = pageLog(page, path);
  if (process.env.WATCH_NET) {
    page.on('requestfinished', (r) => r.response().then(
      (response) => network.push(`${Date.now() - t0} ${response?.status()} ${path(r.url())}`),
      () => {}, // the browser closed first
    ));
    page.on('requestfailed', (r) => network.push(`${Date.now() - t0} FAILED ${r.url()}`));
  }
  await page.goto(url);
  await page.waitForFunction(() => window.tributary?.video.currentTime > 0, null, { timeout: 30000 });
  const sample = () => page.evaluate(() => ({
    currentTime: window.tributary.video.currentTime,
    latency: window.tributary.hls?.latency ?? null,
    badge: document.getElementById('badge').textContent,
    levels: window.tributary.hls?.levels.length ?? 0,
    targetLatency: window.tributary.hls?.targetLatency ?? null,
    stalls: window.tributary.stalls,
    starts: window.tributary.starts,
    levelHeight: (() => { const h = window.tributary.hls; return h && h.currentLevel >= 0 ? h.levels[h.currentLevel].height : null; })(),
    playbackRate: window.tributary.video.playbackRate,
    buffered: (() => { const v = window.tributary.video; const b = v.buffered; return b.length ? b.end(b.length - 1) - v.currentTime : 0; })(),
  }));
  // WATCH_LEVEL_HEIGHT pins hls.js to the level of that height. The switch is made at the
  // next fragment (nextLevel), without flushing what is buffered, as a player's own switches are.
  const pinned = Number(process.env.WATCH_LEVEL_HEIGHT ?? 0);
  if (pinned) {
    const found = await page.evaluate((height) => {
      const h = window.tributary.hls;
      const index = h.levels.findIndex((level) => level.height === height);
      if (index >= 0) h.nextLevel = index;
      return index >= 0;
    }, pinned);
    if (!found) throw new Error(`no level of height ${pinned}`);
  }
  // WATCH_LEVEL_CAP caps hls.js's automatic choice at the level of that height.
  const cap = Number(process.env.WATCH_LEVEL_CAP ?? 0);
  if (cap) {
    await page.evaluate((height) => {
      const h = window.tributary.hls;
      h.autoLevelCapping = h.levels.findIndex((level) => level.height === height);
    }, cap);
  }
  const first = await sample();
  const latencies = [];
  const samples = [];
  // When stalls began, in seconds of playback since the first sample (0 for those before it).
  const stallTimes = Array(first.stalls).fill(0);
  const end = Date.now() + seconds * 1000;
  let last = first;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500));
    const previous = last;
    last = await sample();
    if (last.latency !== null) latencies.push(last.latency);
    for (let k = previous.stalls; k < last.stalls; k++) stallTimes.push(Number((last.currentTime - first.currentTime).toFixed(2)));
    samples.push(last);
  }
  const errors = await page.evaluate(() => window.tributary.errors);
  console.log(JSON.stringify({ first, last, latencies, stallTimes, samples: process.env.WATCH_SAMPLES ? samples : undefined, network: process.env.WATCH_NET ? network : undefined, logs: logs.slice(-20), errors }));
} finally {
  await browser.close();
}
