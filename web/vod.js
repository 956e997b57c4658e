// The VOD watch page: hls.js (or the browser's own HLS, as on Safari) on the
// asset's multivariant playlist, with a quality menu.
(() => {
  const master = document.currentScript.dataset.master;
  const video = document.getElementById('video');
  const overlay = document.getElementById('overlay');
  const quality = document.getElementById('quality');
  const errors = [];
  let hls = null;

  // Exposed for tests.
  window.tributary = { get hls() { return hls; }, video, errors };

  function fail(message) {
    overlay.textContent = message;
    overlay.hidden = false;
  }

  function fillQualities(levels) {
    levels.forEach((level, index) => {
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
    hls = new Hls({ capLevelToPlayerSize: true });
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
    video.src = master;
  } else {
    fail('This browser cannot play HLS.');
  }
})();
