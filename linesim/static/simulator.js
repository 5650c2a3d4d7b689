// The chat page: every action goes through the emulator's control routes -> signed webhook -> /callback.
(() => {
  const API = document.body.dataset.api;
  let current = null, users = [];
  const $ = s => document.querySelector(s);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  async function call(path, method = "GET", body) {
    const opts = {method, headers: {}};
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch(API + path, opts);
    return r.json().catch(() => ({}));
  }
  const time = iso => { const d = new Date(iso); return `${d.getHours()}:${String(d.getMinutes()).padStart(2, "0")}`; };
  const mine = {};  // what each user typed, shown on the right (LINE only knows what the bot sent)

  async function refreshUsers() {
    users = (await call("/users")).users || [];
    const ul = $("#users"); ul.replaceChildren();
    users.forEach(u => {
      const li = el("li", u.id === current ? "user selected" : "user", `${u.display_name}${u.blocked ? "（ブロック中）" : ""}${u.unread ? ` ●${u.unread}` : ""}`);
      li.onclick = () => select(u.id); ul.append(li);
    });
  }
  function select(id) { current = id; $("#input").disabled = false; $("#send").disabled = false; $("#block").hidden = false; render(); refreshUsers(); }

  async function render() {
    if (!current) return;
    const user = users.find(u => u.id === current) || {};
    $("#chat-title").textContent = user.display_name || "つなぐ相談";
    $("#block").textContent = user.blocked ? "ブロック解除" : "ブロック";
    const data = await call(`/users/${current}/inbox`);
    await call(`/users/${current}/read`, "POST", {});
    const items = (data.messages || []).map(m => ({at: m.at, from: "bot", text: m.text || m.alt_text || `（${m.type}）`, read: m.read}))
      .concat((mine[current] || []).map(m => ({at: m.at, from: "me", text: m.text, read: m.read})))
      .sort((a, b) => a.at < b.at ? -1 : a.at > b.at ? 1 : 0);
    const ol = $("#chat"); ol.replaceChildren();
    items.forEach(m => {
      const li = el("li", "bubble " + m.from); li.append(el("span", "text", m.text));
      li.append(el("span", "meta", (m.from === "me" ? "既読 " : "") + time(m.at))); ol.append(li);
    });
    ol.scrollTop = ol.scrollHeight;
    const last = (data.messages || []).slice().reverse().find(m => m.quick_reply_items);
    const lastAll = (data.messages || []).slice(-1)[0];
    const chips = $("#chips"); chips.replaceChildren();
    if (last && last === lastAll) {
      last.quick_reply_items.forEach(item => {
        const a = item.action, b = el("button", "chip", a.label);
        b.onclick = () => a.type === "postback" ? postback(a.data, a.label) : send(a.text || a.label);
        chips.append(b);
      });
    }
  }
  async function send(text) {
    if (!current || !text) return;
    (mine[current] = mine[current] || []).push({at: new Date().toISOString(), text});
    await call(`/users/${current}/messages`, "POST", {text}); render();
  }
  async function postback(data, label) {
    (mine[current] = mine[current] || []).push({at: new Date().toISOString(), text: label});
    await call(`/users/${current}/postback`, "POST", {data}); render();
  }
  $("#composer").onsubmit = ev => { ev.preventDefault(); const t = $("#input").value.trim(); $("#input").value = ""; send(t); };
  $("#add-friend").onclick = async () => {
    const {id} = await call("/users", "POST", {});
    await call(`/users/${id}/follow`, "POST", {});
    await refreshUsers(); select(id);
  };
  $("#block").onclick = async () => {
    const user = users.find(u => u.id === current);
    await call(`/users/${current}/${user && user.blocked ? "follow" : "unfollow"}`, "POST", {}); await refreshUsers(); render();
  };
  document.querySelectorAll("button.training").forEach(b => b.onclick = async () => {
    await fetch(`/simulator/training/${b.dataset.slug}`, {method: "POST"}); setTimeout(refreshUsers, 500);
  });
  refreshUsers(); setInterval(() => { refreshUsers(); render(); }, 1000);
})();
