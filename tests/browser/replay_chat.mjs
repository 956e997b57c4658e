// Plays a replay's watch page in headless Chromium and reports, as one JSON
// line, whether its chat panel shows the message TEXT (said at POSITION
// seconds of the replay) and at what video time: paused 3 s before it, then
// played until it shows (`appeared`); seeked back before it and past it;
// seeked 4 s before it and played at twice the rate until it shows.
//   node replay_chat.mjs WATCH_PAGE_URL TEXT POSITION
import { launch, pageLog } from './chromium.mjs';

const [url, text, positionArg] = process.argv.slice(2);
const position = Number(positionArg);
const browser = await launch();
try {
  const page = await browser.newPage();
  const logs = pageLog(page);
  await page.goto(url);
  await page.waitForFunction(() => window.tributary.chat?.loaded && window.tributary.video.readyState >= 1,
    null, { timeout: 30000 });
  await page.evaluate(() => { window.tributary.video.muted = true; });

  const look = () => page.evaluate((t) => ({
    currentTime: window.tributary.video.currentTime,
    shown: window.tributary.chat.shown.some((m) => m.text === t),
    panel: Array.from(document.querySelectorAll('#chat-list li'), (li) => li.textContent),
  }), text);
  const seekTo = (at) => page.evaluate((t) => new Promise((resolve) => {
    const video = window.tributary.video;
    video.addEventListener('seeked', resolve, { once: true });
    video.currentTime = t;
  }), Math.max(0, at));
  // Plays at `rate` until the message shows; the video's time when it did.
  const playUntilShown = async (rate) => {
    await page.evaluate((r) => { const v = window.tributary.video; v.playbackRate = r; return v.play(); }, rate);
    const shownAt = await page.waitForFunction((t) => window.tributary.chat.shown.some((m) => m.text === t)
      && { currentTime: window.tributary.video.currentTime }, text, { timeout: 30000, polling: 'raf' });
    const seen = await shownAt.jsonValue();
    await page.evaluate(() => window.tributary.video.pause());
    return { ...(await look()), currentTime: seen.currentTime };
  };

  await seekTo(position - 3);
  const before = await look();
  const appeared = await playUntilShown(1);
  await seekTo(position - 2);
  const seekedBack = await look();
  await seekTo(position + 1);
  const seekedPast = await look();
  await seekTo(position - 4);
  const rewound = await look();
  const doubled = await playUntilShown(2);
  const messages = await page.evaluate(() => window.tributary.chat.messages.length);
  console.log(JSON.stringify({ before, appeared, seekedBack, seekedPast, rewound, doubled, messages, logs: logs.slice(-20) }));
} finally {
  await browser.close();
}
