// The VOD watch page: hls.js (or the browser's own HLS, as on Safari) on the
// asset's multivariant playlist, with a quality menu, and a seek bar that
// previews the moment under the pointer from the storyboard (WebVTT cues
// pointing into a sprite sheet).
(() => {
  const { master, storyboard } = document.currentScript.dataset;
  const video = document.getElementById('video');
  const overlay = document.getElementById('overlay');
  const quality = document.getElementById('quality');
  const errors = [];
  let hls = null;

  const scrub = document.getElementById('scrub');
  const seek = document.getElementById('seek');
  const preview = document.getElementById('preview');
  let cues = [];

  // Exposed for tests.
  window.tributary = { get hls() { return hls; }, video, errors, get cues() { return cues; }, previewAt };

  // `00:01:02.500` or `01:02.500` in seconds.
  function seconds(stamp) {
    return stamp.split(':').reduce((total, part) => total * 60 + Number(part), 0);
  }

  function parseStoryboard(text) {
    const found = [];
    const base = new URL(storyboard, location.href);
    for (const block of text.split(/\r?\n\r?\n/)) {
      const lines = block.trim().split(/\r?\n/);
      const timing = lines.findIndex((line) => line.includes('-->'));
      if (timing < 0 || !lines[timing + 1]) continue;
      const [start, end] = lines[timing].split('-->').map((s) => seconds(s.trim().split(' ')[0]));
      const target = new URL(lines[timing + 1].trim(), base);
      const xywh = /#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(target.hash);
      if (!xywh) continue;
      target.hash = '';
      const [x, y, w, h] = xywh.slice(1).map(Number);
      found.push({ start, end, url: target.href, x, y, w, h });
    }
    return found;
  }

  // Shows the tile of time `t` above the seek bar at `left` pixels; returns its cue.
  function previewAt(t, left = 0) {
    const cue = cues.find((c) => t >= c.start && t < c.end) ?? cues[cues.length - 1];
    if (!cue) return null;
    preview.style.width = `${cue.w}px`;
    preview.style.height = `${cue.h}px`;
    preview.style.backgroundImage = `url("${cue.url}")`;
    preview.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    preview.style.left = `${Math.max(0, left - cue.w / 2)}px`;
    preview.hidden = false;
    return cue;
  }

  if (storyboard) {
    fetch(storyboard).then((r) => (r.ok ? r.text() : '')).then((text) => {
      cues = parseStoryboard(text);
      scrub.hidden = cues.length === 0;
    }, () => {});
  }
  const timeAt = (event) => {
    const box = seek.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * (video.duration || 0);
  };
  seek.addEventListener('pointermove', (event) => previewAt(timeAt(event), event.clientX - seek.getBoundingClientRect().left));
  seek.addEventListener('pointerleave', () => { preview.hidden = true; });
  seek.addEventListener('input', () => {
    if (video.duration) video.currentTime = (Number(seek.value) / 1000) * video.duration;
  });
  video.addEventListener('timeupdate', () => {
    if (video.duration) seek.value = String(Math.round((video.currentTime / video.duration) * 1000));
  });

  function fail(message) {
    overlay.textContent = message;
    overlay.hidden = false;
  }

  // Best first, as players list them; each option keeps its hls.js level index.
  function fillQualities(levels) {
    const order = levels.map((level, index) => ({ level, index }))
      .sort((a, b) => (b.level.height - a.level.height) || (b.level.bitrate - a.level.bitrate));
    order.forEach(({ level, index }) => {
      const option = document.createElement('option');
      option.value = String(index);
      option.textContent = level.height ? `${level.height}p` : `${Math.round(level.bitrate / 1000)} kbit/s`;
      quality.append(option);
    });
  }

  quality.addEventListener('change', () => {
    if (hls) hls.currentLevel = Number(quality.value);
  });

  if (window.Hls && Hls.isSupported()) {
    // A video still being encoded plays from an EVENT playlist: from its
    // start, not from its newest segment as a live stream would.
    hls = new Hls({ capLevelToPlayerSize: true, startPosition: 0 });
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => fillQualities(data.levels));
    hls.on(Hls.Events.ERROR, (_, data) => {
      errors.push({ type: data.type, details: data.details, fatal: data.fatal });
      if (errors.length > 20) errors.shift();
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else fail(data.response?.code === 404 ? 'This video is not playable yet.' : 'Playback failed.');
    });
    hls.loadSource(master);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    quality.parentElement.hidden = true;
    video.addEventListener('loadedmetadata', () => { video.currentTime = 0; }, { once: true });
    video.src = master;
  } else {
    fail('This browser cannot play HLS.');
  }
})();
