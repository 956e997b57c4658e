// The watch page: polls the stream's public status, starts hls.js in
// low-latency mode when the stream goes live, and stops when it ends; sends
// the viewer heartbeat while the video plays.
(() => {
  const streamId = document.currentScript.dataset.streamId;
  const video = document.getElementById('video');
  const overlay = document.getElementById('overlay');
  const badge = document.getElementById('badge');
  const title = document.getElementById('title');
  const unmute = document.getElementById('unmute');
  const POLL_MS = 2000;
  const HEARTBEAT_MS = 10000;
  const viewerId = storedViewerId();
  let hls = null;
  let stalls = 0;
  const errors = []; // the last hls.js errors, fatal or not
  let starts = 0;

  // Exposed for tests and benchmarks (hls.latency, levels, currentTime, stalls, starts),
  // and for chat.js (viewerId, refresh).
  window.tributary = { get hls() { return hls; }, video, get stalls() { return stalls; }, get starts() { return starts; }, errors,
    viewerId, refresh: () => schedulePoll(0) };

  // One id per browser, so the player and the chat socket count as one viewer.
  function storedViewerId() {
    const KEY = 'tributary.viewer';
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
    const fresh = () => Array.from(crypto.getRandomValues(new Uint8Array(22)), (b) => ALPHABET[b & 63]).join('');
    try {
      const id = localStorage.getItem(KEY) || fresh();
      localStorage.setItem(KEY, id);
      return id;
    } catch {
      return fresh(); // storage is blocked: this page view counts on its own
    }
  }

  function show(live, message) {
    badge.textContent = live ? 'LIVE' : 'OFFLINE';
    badge.className = 'badge ' + (live ? 'live' : 'offline');
    overlay.textContent = message;
    overlay.hidden = live && !message;
  }

  function stop(message) {
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute('src');
    video.load();
    show(false, message);
  }

  function start(url) {
    starts++;
    if (window.Hls && Hls.isSupported()) {
      hls = new Hls({
        lowLatencyMode: true,
        maxLiveSyncPlaybackRate: 1.5,
        backBufferLength: 30,
        manifestLoadingMaxRetry: 4,
        levelLoadingMaxRetry: 4,
      });
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) stalls++;
        errors.push(`${data.details}${data.fatal ? ' (fatal)' : ''} ${data.frag?.url ?? data.url ?? ''}`);
        if (errors.length > 20) errors.shift();
        if (data.fatal) {
          console.warn('hls.js fatal error', data.type, data.details);
          stop('Reconnecting…');
        }
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url; // Safari plays LL-HLS natively
    } else {
      show(false, 'This browser cannot play HLS');
      return;
    }
    show(true, '');
    video.play().catch(() => { unmute.hidden = false; });
  }

  // hls.js speeds playback up to reach its target latency only while more
  // than a second is buffered, so a viewer who joins between keyframes can
  // stay half a second behind that target for good. Jump to the live sync
  // point instead, once it is buffered; the target stays hls.js's own (it
  // grows after stalls, so a weak network keeps its margin).
  const JUMP_WHEN_BEHIND_S = 0.3;
  const MIN_JUMP_INTERVAL_MS = 10000;
  let lastJump = -Infinity;
  function keepNearLiveEdge() {
    if (!hls || video.paused || hls.latency === null || hls.targetLatency === null) return;
    const sync = hls.liveSyncPosition;
    if (hls.latency - hls.targetLatency < JUMP_WHEN_BEHIND_S || sync === null || sync <= video.currentTime) return;
    if (performance.now() - lastJump < MIN_JUMP_INTERVAL_MS) return;
    const ranges = video.buffered;
    for (let i = 0; i < ranges.length; i++) {
      if (sync >= ranges.start(i) && sync < ranges.end(i) - 0.1) {
        lastJump = performance.now();
        video.currentTime = sync;
        return;
      }
    }
  }

  video.addEventListener('timeupdate', keepNearLiveEdge);
  video.addEventListener('ended', () => stop('The broadcast has ended'));
  unmute.addEventListener('click', () => {
    video.muted = false;
    video.play();
    unmute.hidden = true;
  });
  video.addEventListener('playing', () => { unmute.hidden = !video.muted; });

  let lastBeat = -Infinity;
  function heartbeat() {
    if (video.paused || video.ended) return;
    lastBeat = performance.now();
    fetch(`/api/v1/streams/${streamId}/viewers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ viewer: viewerId }),
    }).catch((e) => console.warn('heartbeat failed', e));
  }
  setInterval(heartbeat, HEARTBEAT_MS);
  // Counts the viewer from the first frame rather than from the next tick.
  video.addEventListener('playing', () => { if (performance.now() - lastBeat >= HEARTBEAT_MS) heartbeat(); });

  async function poll() {
    try {
      const response = await fetch(`/api/v1/streams/${streamId}/playback`, { cache: 'no-store' });
      if (response.status === 404) {
        stop('No such stream');
        return;
      }
      const status = await response.json();
      title.textContent = status.title;
      document.title = `${status.title} · Tributary`;
      // The live poster shows until the first frame plays.
      if (status.status === 'live' && video.currentTime === 0) {
        video.poster = `/api/v1/streams/${streamId}/thumbnail.jpg?t=${Date.now()}`;
      }
      if (status.status === 'live' && !hls && !video.src) start(status.playback_url);
      if (status.status !== 'live' && (hls || video.src)) stop('Offline');
      if (status.status !== 'live' && !hls) show(false, 'Offline');
    } catch (e) {
      console.warn('status poll failed', e);
    }
    schedulePoll(POLL_MS);
  }

  // The chat's stream events call this with 0 to poll at once; one timer at a time.
  let pollTimer;
  function schedulePoll(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, ms);
  }
  poll();
})();
