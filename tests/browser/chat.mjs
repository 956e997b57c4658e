// Opens the watch page in headless Chromium, joins the chat as NAME, sends
// hostile messages and a greeting, waits for them and for every EXPECTED text
// (sent by another client), then reports as one JSON line what the chat list
// shows, whether any markup got in, and the layout at phone size.
//   node chat.mjs URL NAME [EXPECTED...]
// CHAT_SCREENSHOTS=/tmp/chat also saves /tmp/chat-desktop.png and /tmp/chat-phone.png.
import { launch } from './chromium.mjs';

const [url, name, ...expected] = process.argv.slice(2);
const PAYLOADS = ['<script>window.__xss=1</script>', '<img src=x onerror="window.__xss=2">', `hello from ${name}`];
const PHONE = { width: 390, height: 844 };

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.tributary?.chat?.connected, null, { timeout: 10000 });

  // Join through the form, as a person would.
  await page.fill('#chat-name', name);
  await page.click('#chat-join button');
  await page.waitForFunction((n) => window.tributary.chat.user?.name === n, name, { timeout: 10000 });
  for (const text of PAYLOADS) {
    await page.fill('#chat-text', text);
    await page.press('#chat-text', 'Enter');
  }
  const shown = () => page.$$eval('#chat-list .msg .text', (spans) => spans.map((s) => s.textContent));
  // On a timeout the report still goes out: the test's assertions say what is missing.
  await page.waitForFunction((texts) => {
    const shownTexts = [...document.querySelectorAll('#chat-list .msg .text')].map((s) => s.textContent);
    return texts.every((t) => shownTexts.includes(t));
  }, [...PAYLOADS, ...expected], { timeout: 15000 }).catch(() => {});

  const report = await page.evaluate(() => ({
    markup: document.querySelectorAll('#chat-list img, #chat-list script, #chat-pinned img, #chat-pinned script').length,
    xss: window.__xss === undefined ? 'undefined' : String(window.__xss),
    viewers: window.tributary.chat.viewers,
    viewersShown: document.getElementById('viewers').textContent,
  }));
  report.texts = await shown();
  if (process.env.CHAT_SCREENSHOTS) await page.screenshot({ path: `${process.env.CHAT_SCREENSHOTS}-desktop.png` });

  await page.setViewportSize(PHONE);
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
  report.phone = await page.evaluate(() => {
    const box = (selector) => {
      const r = document.querySelector(selector).getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    };
    return {
      viewport: { width: innerWidth, height: innerHeight },
      scrollWidth: document.documentElement.scrollWidth,
      video: box('#video'),
      input: box('#chat-text'),
      send: box('#chat-send button'),
    };
  });
  if (process.env.CHAT_SCREENSHOTS) await page.screenshot({ path: `${process.env.CHAT_SCREENSHOTS}-phone.png` });

  // The name is remembered: a reload joins with it again, and the history comes back.
  await page.reload();
  await page.waitForFunction((n) => window.tributary.chat.user?.name === n, name, { timeout: 10000 })
    .catch(() => {});
  report.rejoinedAs = await page.evaluate(() => window.tributary.chat.user?.name ?? null);
  report.textsAfterReload = await shown();
  report.errors = errors;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
