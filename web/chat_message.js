// How a chat message shows, live and beside a replay: its author's role
// badge, name and text. Message data only ever reaches the page as text
// nodes.
window.tributaryChat = (() => {
  const ROLE_BADGES = { moderator: 'MOD', broadcaster: 'HOST' };

  function span(className, text) {
    const el = document.createElement('span');
    el.className = className;
    el.textContent = text;
    return el;
  }

  function messageParts(message) {
    const parts = [];
    const badge = ROLE_BADGES[message.user.role];
    if (badge) parts.push(span(`role ${message.user.role}`, badge));
    parts.push(span('name', message.user.name), span('text', message.text));
    return parts;
  }

  return { span, messageParts };
})();
