// The chat panel of the watch page, speaking the protocol of docs/chat.md.
// Message data (names, texts) only ever reaches the page as text nodes.
(() => {
  const streamId = document.currentScript.dataset.streamId;
  const $ = (id) => document.getElementById(id);
  const list = $('chat-list');
  const pinnedBox = $('chat-pinned');
  const notice = $('chat-notice');
  const hint = $('chat-hint');
  const state = $('chat-state');
  const modLink = $('chat-mod');
  const joinForm = $('chat-join');
  const nameInput = $('chat-name');
  const sendForm = $('chat-send');
  const textInput = $('chat-text');
  const viewersBadge = $('viewers');

  const MAX_SHOWN = 200;
  const TIMEOUT_SECS = 600;
  const NAME_KEY = 'tributary.chat.name';
  const TOKEN_KEY = 'tributary.chat.token';
  const { span, messageParts } = window.tributaryChat;

  let socket = null;
  let connected = false;
  let banned = false;
  let user = null; // {name, role} once joined; null while read-only
  let joinedName = null; // the name this page last joined with
  let lastOffset = null;
  let viewers = null;
  let retries = 0;
  let retryTimer;
  let noticeTimer;
  let lastSent = '';

  const storage = (area) => ({
    get: (key) => { try { return area().getItem(key); } catch { return null; } },
    set: (key, value) => {
      try { value === null ? area().removeItem(key) : area().setItem(key, value); } catch { /* storage is blocked */ }
    },
  });
  const local = storage(() => localStorage);
  const session = storage(() => sessionStorage);

  // ---- Connection ----

  function socketUrl() {
    const query = new URLSearchParams();
    const token = session.get(TOKEN_KEY);
    const name = local.get(NAME_KEY);
    if (token) query.set('token', token);
    if (name) query.set('name', name);
    if (lastOffset !== null) query.set('since', lastOffset);
    query.set('viewer', window.tributary.viewerId);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${location.host}/api/v1/streams/${streamId}/chat?${query}`;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (socket) socket.close(1000);
    const ws = new WebSocket(socketUrl());
    socket = ws;
    connected = false;
    user = null;
    showState();
    // A replaced socket's late events are ignored.
    ws.onmessage = (e) => {
      if (ws !== socket) return;
      for (const line of e.data.split('\n')) if (line) handle(JSON.parse(line));
    };
    ws.onclose = (e) => { if (ws === socket) closed(e.code); };
  }

  function closed(code) {
    socket = null;
    connected = false;
    user = null;
    banned = code === 4003;
    showState();
    if (banned) return showNotice(ERROR_TEXTS.banned, 0);
    if (code === 4001) {
      session.set(TOKEN_KEY, null);
      showModLink();
      return connect();
    }
    // A name still held by this page's own dropped connection frees up
    // within a minute: keep retrying rather than asking for another.
    if (code === 4009 && sameName(joinedName, local.get(NAME_KEY))) {
      notice.hidden = true;
      return retry();
    }
    if (code === 4000 || code === 4009) {
      local.set(NAME_KEY, null);
      return connect(); // read-only until a new name is picked
    }
    retry();
  }

  function retry() {
    const delay = Math.min(30000, 1000 * 2 ** retries) * (0.8 + Math.random() * 0.4);
    retries++;
    retryTimer = setTimeout(connect, delay);
  }

  const sameName = (a, b) => a !== null && b !== null && a.toLowerCase() === b.toLowerCase();

  function command(body) {
    if (!connected) {
      showNotice('Not connected: reconnecting…');
      return false;
    }
    socket.send(JSON.stringify(body));
    return true;
  }

  // ---- Events ----

  const handlers = {
    joined(e) {
      connected = true;
      retries = 0;
      user = e.user;
      if (user) joinedName = user.name;
      showState();
      showModLink();
      rerenderTools();
    },
    settings(e) {
      textInput.maxLength = e.max_length;
      hint.textContent = `Slow mode: one message every ${e.slow_mode_secs} s`;
      hint.hidden = !e.slow_mode_secs || isModerator();
    },
    stream() { window.tributary.refresh(); }, // the player follows at once
    pinned(e) { showPinned(e.message); },
    viewers(e) {
      viewers = e.count;
      viewersBadge.textContent = `${e.count} watching`;
      viewersBadge.hidden = false;
    },
    history(e) {
      if (!e.resumed) list.replaceChildren();
      e.messages.forEach(addMessage);
    },
    message: addMessage,
    deleted(e) { list.querySelector(`[data-id="${CSS.escape(e.id)}"]`)?.remove(); },
    user_timed_out(e) {
      const until = new Date(e.until).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      addSystemLine(`${e.name} is timed out until ${until}`);
    },
    user_banned(e) { addSystemLine(`${e.name} was banned`); },
    user_unbanned(e) { addSystemLine(`${e.name} may chat again`); },
    error: showError,
  };

  function handle(event) {
    handlers[event.type]?.(event);
  }

  const ERROR_TEXTS = {
    rate_limited: 'You are sending too fast',
    slow_mode: 'Slow mode is on',
    timed_out: 'You are timed out',
    too_long: 'That message is too long',
    filtered: 'That message holds a blocked word',
    name_required: 'Pick a name to chat',
    name_taken: 'That name is taken: pick another',
    bad_name: 'Names are 1 to 25 letters, digits, _ or -',
    unauthorized: 'That moderator token is not valid',
    banned: 'You are banned',
  };
  // Refusals of a message the user may want to edit and send again.
  const REFUSED_TEXT = ['rate_limited', 'slow_mode', 'timed_out', 'too_long', 'filtered'];

  function showError(e) {
    const wait = e.retry_after_secs ? ` (retry in ${duration(e.retry_after_secs)})` : '';
    showNotice((ERROR_TEXTS[e.code] ?? e.message) + wait);
    if (REFUSED_TEXT.includes(e.code) && !textInput.value) textInput.value = lastSent;
  }

  const duration = (secs) => (secs < 120 ? `${secs} s` : `${Math.ceil(secs / 60)} min`);

  // ---- Rendering ----

  function addMessage(message) {
    lastOffset = Math.max(lastOffset ?? 0, message.offset);
    if (list.querySelector(`[data-id="${CSS.escape(message.id)}"]`)) return; // seen before a reconnect
    const li = document.createElement('li');
    li.className = 'msg';
    li.dataset.id = message.id;
    li.message = message;
    li.append(...messageParts(message), tools(message));
    append(li);
  }

  function addSystemLine(text) {
    const li = document.createElement('li');
    li.className = 'system';
    li.textContent = text;
    append(li);
  }

  // Keeps the list scrolled to the end unless the reader scrolled up.
  function append(li) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(li);
    while (list.children.length > MAX_SHOWN) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function button(label, title, onClick) {
    const el = document.createElement('button');
    el.type = 'button';
    el.textContent = label;
    el.title = title;
    el.addEventListener('click', onClick);
    return el;
  }

  // The moderator controls of one message (empty for everyone else).
  function tools(message) {
    const box = document.createElement('span');
    box.className = 'tools';
    if (!isModerator()) return box;
    const name = message.user.name;
    box.append(
      button('Delete', 'Delete this message', () => command({ type: 'delete', id: message.id })),
      button('Pin', 'Pin this message', () => command({ type: 'pin', id: message.id })),
    );
    // Moderators and the broadcaster cannot be timed out or banned.
    if (message.user.role === 'viewer') {
      box.append(
        button('10 min', `Time ${name} out for 10 minutes`, () => command({ type: 'timeout', name, secs: TIMEOUT_SECS })),
        button('Ban', `Ban ${name}`, () => { if (confirm(`Ban ${name} from this chat?`)) command({ type: 'ban', name, ip: false }); }),
      );
    }
    return box;
  }

  function rerenderTools() {
    for (const li of list.querySelectorAll('li.msg')) li.querySelector('.tools').replaceWith(tools(li.message));
  }

  function showPinned(message) {
    pinnedBox.hidden = !message;
    if (!message) return pinnedBox.replaceChildren();
    pinnedBox.replaceChildren(span('pin-label', 'Pinned'), ...messageParts(message));
    if (isModerator()) pinnedBox.append(button('Unpin', 'Remove the pin', () => command({ type: 'unpin' })));
  }

  function showNotice(text, hideAfterMs = 8000) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    if (hideAfterMs) noticeTimer = setTimeout(() => { notice.hidden = true; }, hideAfterMs);
  }

  function showState() {
    state.textContent = connected || banned ? '' : 'Connecting…';
    joinForm.hidden = banned || !connected || !!user;
    sendForm.hidden = !user;
  }

  function showModLink() {
    const token = session.get(TOKEN_KEY);
    modLink.textContent = token ? 'Sign out' : 'Moderator sign-in';
  }

  const isModerator = () => user?.role === 'moderator' || user?.role === 'broadcaster';

  // ---- User actions ----

  function join(name) {
    local.set(NAME_KEY, name);
    connect();
  }

  function send(text) {
    lastSent = text;
    return command({ type: 'message', text });
  }

  joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    join(nameInput.value.trim());
  });

  sendForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (send(textInput.value)) textInput.value = '';
  });

  modLink.addEventListener('click', (e) => {
    e.preventDefault();
    if (session.get(TOKEN_KEY)) {
      session.set(TOKEN_KEY, null);
    } else {
      const token = prompt('Moderator token');
      if (!token) return;
      session.set(TOKEN_KEY, token.trim());
    }
    showModLink();
    connect();
  });

  // A moderator link may carry the token as #token=…; keep it out of the address bar.
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromUrl) {
    session.set(TOKEN_KEY, fromUrl);
    history.replaceState(null, '', location.pathname + location.search);
  }

  // Exposed for tests.
  window.tributary.chat = {
    get messages() { return [...list.querySelectorAll('li.msg')].map((li) => li.message); },
    get viewers() { return viewers; },
    get connected() { return connected; },
    get user() { return user; },
    send,
    join,
  };

  showModLink();
  connect();
})();
