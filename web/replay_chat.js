// The chat beside a replay: the messages said up to the moment the video is
// at, kept in step with it through seeks, pauses and rate changes. Every
// page of /api/v1/videos/{id}/chat is read at load (docs/USAGE.md).
// Message data (names, texts) only ever reaches the page as text nodes.
(() => {
  const url = document.currentScript.dataset.chat;
  if (!url) return; // an upload: no chat
  const $ = (id) => document.getElementById(id);
  const video = $('video');
  const panel = $('chat');
  const list = $('chat-list');
  const state = $('chat-state');

  const MAX_SHOWN = 200;
  const { span, messageParts } = window.tributaryChat;

  let messages = []; // in order of position
  let loaded = false;
  let said = 0; // messages[0..said] are said by the video's current time

  // Exposed for tests: what the panel shows (its last MAX_SHOWN), in order.
  window.tributary.chat = {
    get loaded() { return loaded; },
    get messages() { return messages; },
    get shown() { return messages.slice(Math.max(0, said - MAX_SHOWN), said); },
  };

  document.querySelector('main').classList.add('with-chat');
  panel.hidden = false;

  async function load() {
    const found = [];
    let query = new URLSearchParams();
    for (;;) {
      const response = await fetch(`${url}?${query}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const page = await response.json();
      found.push(...page.messages);
      if (page.next_from == null) return found;
      query = new URLSearchParams({ from: page.next_from });
      if (page.next_after != null) query.set('after', page.next_after);
    }
  }

  // How many messages are said by `t` seconds: the index of the first after it.
  function saidBy(t) {
    let low = 0;
    let high = messages.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (messages[mid].position <= t) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  function render() {
    const count = saidBy(video.currentTime);
    if (count === said) return;
    const first = Math.max(0, count - MAX_SHOWN);
    // Back in time, or so far ahead that nothing shown stays: start over.
    if (count < said || first > said) {
      list.replaceChildren();
      said = first;
    }
    for (let i = said; i < count; i += 1) list.append(item(messages[i]));
    while (list.childElementCount > MAX_SHOWN) list.firstElementChild.remove();
    said = count;
    list.scrollTop = list.scrollHeight;
  }

  function item(message) {
    const li = document.createElement('li');
    li.className = 'msg';
    li.dataset.id = message.id;
    li.append(span('stamp', clock(message.position)), ...messageParts(message));
    return li;
  }

  // `m:ss` of a position.
  function clock(secs) {
    const whole = Math.floor(secs);
    return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
  }

  for (const event of ['timeupdate', 'seeking', 'seeked', 'ratechange', 'loadedmetadata', 'emptied']) {
    video.addEventListener(event, render);
  }

  load().then((found) => {
    messages = found;
    loaded = true;
    state.textContent = found.length === 1 ? '1 message' : `${found.length || 'No'} messages`;
    render();
  }, () => {
    state.textContent = 'The chat could not be loaded.';
  });
})();
