// Opens the watch page in headless Chromium and reports, as one JSON line,
// whether hls.js played: currentTime before and after, hls.js latency samples.
//   node watch.mjs URL [seconds]
import { chromium } from 'playwright-core';

const [url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 8);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.tributary?.video.currentTime > 0, null, { timeout: 30000 });
  const sample = () => page.evaluate(() => ({
    currentTime: window.tributary.video.currentTime,
    latency: window.tributary.hls?.latency ?? null,
    badge: document.getElementById('badge').textContent,
    levels: window.tributary.hls?.levels.length ?? 0,
  }));
  const first = await sample();
  const latencies = [];
  const end = Date.now() + seconds * 1000;
  let last = first;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500));
    last = await sample();
    if (last.latency !== null) latencies.push(last.latency);
  }
  console.log(JSON.stringify({ first, last, latencies, logs: logs.slice(-20) }));
} finally {
  await browser.close();
}
