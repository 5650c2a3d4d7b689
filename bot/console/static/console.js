// The console's pages: plain JS on /api/v1 (no build step, nothing from outside; the CSP allows no inline
// script). The workspace reads one stream (/api/v1/workspace) for the whole page; other pages poll the
// crisis alerts only.
const Console = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const LABELS = {
    status: {pending: "送信待ち", sent: "送信済み", failed: "送信失敗", cancelled: "送信中止"},
    sender: {user: "相談者", bot: "自動応答", counselor: "相談員", system: "記録"},
  };
  const RISK = {moderate: "注意", high: "高リスク", imminent: "緊急"};
  const NOTE_KINDS = {supervisor: "スーパーバイザー", reopen: "再開の理由"};
  const BASE_TITLE = document.title;
  const titleState = {crisis: false, unread: 0};

  function setTitle() {
    document.title = (titleState.crisis ? "【緊急】" : "") + (titleState.unread ? `(${titleState.unread}) ` : "") +
      BASE_TITLE;
  }

  async function api(path, method = "GET", body) {
    const opts = {method, headers: {"X-CSRF-Token": csrf}, credentials: "same-origin"};
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch("/api/v1" + path, opts);
    const data = await r.json().catch(() => ({}));
    if (r.status === 401) { window.location.assign("/console/login"); }
    if (!r.ok) {
      throw Object.assign(new Error(data.error || "うまくいきませんでした。もう一度お試しください。"),
        {status: r.status, field: data.field, fields: data.fields || {}});
    }
    return data;
  }
  const el = (tag, attrs = {}, text) => {
    const e = document.createElement(tag);
    Object.entries(attrs).forEach(([k, v]) => { if (v !== null && v !== undefined) e.setAttribute(k, v); });
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const $ = sel => document.querySelector(sel);
  const minutes = s => s == null ? "" : `${Math.floor(s / 60)}分`;

  // A counter on <html> per kind of sound, so a test (and a curious counselor) can see it went off.
  function beep(kind = "alert", freq = 880) {
    const root = document.documentElement;
    const key = kind === "alert" ? "alertSounds" : "messageSounds";
    root.dataset[key] = String(Number(root.dataset[key] || 0) + 1);
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const o = ctx.createOscillator(); o.frequency.value = freq; o.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + (kind === "alert" ? 0.3 : 0.12));
    } catch (e) { /* no audio device: the visual cue stays */ }
  }

  // Errors next to what caused them: the API names the field; a form shows it in its .field-error.
  function showErrors(form, err) {
    clearErrors(form);
    const fields = Object.keys(err.fields || {}).length ? err.fields : {[err.field || "_"]: err.message};
    let shown = false;
    for (const [name, message] of Object.entries(fields)) {
      const slot = form.querySelector(`.field-error[data-for="${name}"]`) || form.querySelector(".field-error");
      if (slot) { slot.textContent = message; slot.classList.add("shown"); shown = true; }
      const input = form.querySelector(`[name="${name}"]`);
      if (input) input.setAttribute("aria-invalid", "true");
    }
    if (!shown) window.alert(err.message);
  }
  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(s => { s.textContent = ""; s.classList.remove("shown"); });
    form.querySelectorAll("[aria-invalid]").forEach(i => i.removeAttribute("aria-invalid"));
  }

  // --- the crisis alert banner (every console page) ----------------------------------------------------
  function alerts({poll = true} = {}) {
    const box = $("#crisis-alert");
    if (!box) return null;
    const acknowledged = new Set(JSON.parse(sessionStorage.getItem("tsunagu-alerts-ack") || "[]"));
    let shown = [];
    $("#crisis-alert-ack").addEventListener("click", () => {
      shown.forEach(k => acknowledged.add(k));
      sessionStorage.setItem("tsunagu-alerts-ack", JSON.stringify([...acknowledged].slice(-200)));
      box.hidden = true; titleState.crisis = false; setTitle();
    });
    function update(items) {
      const fresh = items.filter(a => !acknowledged.has(a.key));
      const list = $("#crisis-alert-list"); list.replaceChildren();
      for (const a of items) {
        const li = el("li", {"data-id": a.id, class: "risk-" + a.risk});
        const link = el("a", {href: "/console/c/" + a.id, class: "open", "data-id": a.id},
          `${a.pseudonym}（${a.risk_label}${a.about_other ? "・家族から" : ""}）`);
        li.append(link, el("span", {class: "cues"}, ` ${a.cues.join("／")} ・待ち ${minutes(a.waiting_seconds)}` +
          (a.alert_count > 1 ? `・${a.alert_count}回目の通知` : "")));
        list.append(li);
      }
      if (!items.length) { box.hidden = true; titleState.crisis = false; setTitle(); return; }
      if (fresh.length) {
        const isNew = fresh.some(a => !shown.includes(a.key));
        shown = items.map(a => a.key);
        box.hidden = false;
        titleState.crisis = true; setTitle();
        if (isNew) beep("alert");
      }
    }
    async function tick() {
      try { update((await api("/alerts")).alerts); } catch (e) { /* next time */ }
    }
    if (poll) { tick(); setInterval(tick, 3000); }
    return {update};
  }

  // --- the workspace -----------------------------------------------------------------------------------
  function workspace(root) {
    const me = Number(root.dataset.staff);
    const pollMs = Number(root.dataset.poll || 2000);
    const banner = alerts({poll: false});
    const dead = deadLetters({poll: false});
    const S = {
      version: "", lists: null, open: null, detail: null, after: 0, notesAfter: 0, stamp: null,
      serverOffset: 0, unreadById: null, canned: [], cannedFor: null, labelNames: {}, watching: false,
    };
    const draftKey = cid => `tsunagu-draft:${me}:${cid}`;
    const sendKey = () => localStorage.getItem("tsunagu-send-key") || "ctrl";
    $("#send-key").value = sendKey();
    $("#send-key").addEventListener("change", e => localStorage.setItem("tsunagu-send-key", e.target.value));

    // The server's clock, so waiting times agree with the server whatever the PC's clock says.
    const serverNow = () => Date.now() + S.serverOffset;
    const waited = iso => iso ? minutes(Math.max(0, (serverNow() - Date.parse(iso)) / 1000)) : "";

    // --- the lists ---
    function matches(c) {
      const q = $("#list-search").value.trim();
      const label = $("#label-filter").value;
      return (!q || c.pseudonym.includes(q)) && (!label || c.labels.includes(Number(label)));
    }
    function badges(c, into) {
      if (c.risk_label) into.append(el("span", {class: "badge " + c.risk}, c.risk_label));
      into.append(el("b", {class: "pseudonym"}, c.pseudonym));
      if (c.returning) into.append(el("span", {class: "tag"}, "再相談"));
      if (c.training) into.append(el("span", {class: "tag"}, "研修"));
      const unread = el("span", {class: "unread", "data-count": c.unread, "aria-label": `未読${c.unread}件`},
        c.unread ? String(c.unread) : "");
      unread.hidden = !c.unread;
      into.append(unread);
    }
    function preview(c) {
      const who = c.last ? (c.last.sender === "user" ? "相談者" : c.last.sender === "counselor" ? "相談員" : "自動応答") : "";
      return el("div", {class: "preview"}, c.last ? `${who}：${c.last.text}` : "（まだメッセージはありません）");
    }
    function labelChips(c, into) {
      for (const id of c.labels) if (S.labelNames[id]) into.append(el("span", {class: "label-chip small"}, S.labelNames[id]));
    }
    function listItem(c, list) {
      const li = el("li", {class: `chat-item risk-${c.risk}` + (c.id === S.open ? " current" : ""), "data-id": c.id});
      const a = el("a", {href: "/console/c/" + c.id, class: "open", "data-id": c.id, "data-list": list});
      const head = el("div", {class: "row-head"}); badges(c, head);
      head.append(el("span", {class: "time"}, c.last ? c.last.at_label : ""));
      a.append(head, preview(c));
      const meta = el("div", {class: "meta"});
      if (c.state === "waiting") meta.append(el("span", {class: "wait", "data-since": c.waiting_since, "data-label": "待ち"}, "待ち " + waited(c.waiting_since)));
      if (c.reply_waiting_since) meta.append(el("span", {class: "wait reply-wait", "data-since": c.reply_waiting_since, "data-label": "返信待ち"}, "返信待ち " + waited(c.reply_waiting_since)));
      if (c.idle) meta.append(el("span", {class: "tag idle"}, "返事が途絶えています"));
      if (list === "watch") meta.append(el("span", {}, `${c.state_label}${c.counselor ? "・" + c.counselor : ""}・${c.organization_name}`));
      labelChips(c, meta);
      a.append(meta);
      li.append(a);
      return li;
    }
    function queueRow(c) {
      const tr = el("tr", {"data-id": c.id, class: "risk-" + c.risk + (c.id === S.open ? " current" : "")});
      const td = el("td");
      const a = el("a", {href: "/console/c/" + c.id, class: "open", "data-id": c.id, "data-list": "queue"});
      const head = el("div", {class: "row-head"}); badges(c, head);
      head.append(el("span", {class: "wait", "data-since": c.waiting_since, "data-label": "待ち"}, "待ち " + waited(c.waiting_since)));
      a.append(head);
      const i = c.intake_labels;
      a.append(el("div", {class: "intake-line"}, `${i.who}・${i.age_band}・${i.area}・${i.concern}`));
      // Issue 10: which queue it is in and why every counselor sees it; the counselor the user asked for.
      if ((c.queue_badges || []).length || c.preferred_counselor) {
        const route = el("div", {class: "route-line"});
        for (const b of c.queue_badges || []) route.append(el("span", {class: "badge route"}, b));
        if (c.preferred_counselor) route.append(el("span", {class: "preferred"}, `希望：${c.preferred_counselor}`));
        a.append(route);
      }
      if (c.cues.length) a.append(el("div", {class: "cues"}, c.cues.join("／")));
      a.append(preview(c));
      const meta = el("div", {class: "meta"}); labelChips(c, meta); a.append(meta);
      td.append(a); tr.append(td);
      return tr;
    }
    function renderLists() {
      const L = S.lists;
      if (!L) return;
      performance.mark("tsunagu:lists-start");
      S.labelNames = Object.fromEntries(L.labels.map(l => [l.id, l.name]));
      const filter = $("#label-filter"), chosen = filter.value;
      filter.replaceChildren(el("option", {value: ""}, "すべてのラベル"),
        ...L.labels.map(l => el("option", {value: l.id}, l.name)));
      filter.value = chosen;
      const mine = $("#mine"); mine.replaceChildren(...L.mine.filter(matches).map(c => listItem(c, "mine")));
      if (!L.mine.length) mine.append(el("li", {class: "empty"}, "担当中の相談はありません"));
      $("#mine-count").textContent = `${L.mine.length}件`;
      $("#queue tbody").replaceChildren(...L.queue.filter(matches).map(queueRow));
      $("#count").textContent = `${L.queue.length}件`;
      const watch = $("#watch");
      if (watch && L.watch) {
        watch.replaceChildren(...L.watch.filter(matches).map(c => listItem(c, "watch")));
        $("#watch-count").textContent = `${L.watch.length}件`;
      }
      performance.measure("tsunagu:lists", "tsunagu:lists-start");  // (bench/workspace_bench.py reads these)
    }
    function tickWaits() {
      document.querySelectorAll(".wait[data-since]").forEach(w => { w.textContent = `${w.dataset.label} ${waited(w.dataset.since)}`; });
    }
    $("#list-search").addEventListener("input", renderLists);
    $("#label-filter").addEventListener("change", renderLists);

    function transfersIn(items) {
      const box = $("#transfers-in"); box.replaceChildren();
      box.hidden = !items.length;
      for (const t of items) {
        const p = el("p", {class: "transfer-in", "data-id": t.consultation_id});
        const a = el("a", {href: "/console/c/" + t.consultation_id, class: "open", "data-id": t.consultation_id},
          `${t.from || "スーパーバイザー"}さんから引き継ぎ（${t.at_label}）`);
        p.append(a);
        if (t.note) p.append(el("span", {class: "note-text"}, `：${t.note}`));
        box.append(p);
      }
    }

    // --- the stream ---
    let polling = false;
    async function poll() {
      if (polling) return;
      polling = true;
      performance.mark("tsunagu:poll-start");
      try {
        const q = new URLSearchParams({v: S.version});
        if (S.open) {
          q.set("chat", S.open); q.set("after", S.after); q.set("notes_after", S.notesAfter);
          if (S.watching) q.set("watch", "1");
        }
        const data = await api("/workspace?" + q);
        S.serverOffset = Date.parse(data.now) - Date.now();
        if (data.lists) {
          // A sound when one of my other chats gets a new message (not for a chat just taken on).
          const next = Object.fromEntries(data.lists.mine.map(c => [c.id, c.unread]));
          if (S.unreadById && Object.entries(next).some(([id, n]) =>
            id in S.unreadById && n > S.unreadById[id] && Number(id) !== S.open)) beep("message", 660);
          S.unreadById = next;
          S.lists = data.lists; S.version = data.version; renderLists();
        }
        tickWaits();
        if (banner) banner.update(data.alerts);
        if (dead && data.dead_letters) dead.update(data.dead_letters);
        transfersIn(data.transfers_in);
        titleState.unread = data.unread_total; setTitle();
        if (data.chat && data.chat.id === S.open) await applyChat(data.chat);
        performance.measure("tsunagu:poll", "tsunagu:poll-start");
      } catch (e) { /* the next poll tries again */ }
      polling = false;
      if (performance.getEntriesByType("measure").length > 500) performance.clearMeasures();
    }
    function loop() { poll().finally(() => setTimeout(loop, pollMs)); }

    // --- one chat ---
    // The conversation opens at the newest message and stays there while the counselor is there (also when
    // the controls below it change height); scrolled up to read, it stays put.
    function atBottom() { const ol = $("#messages"); return ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40; }
    function toBottom() { const ol = $("#messages"); ol.scrollTop = ol.scrollHeight; S.stick = true; }
    S.stick = true;
    $("#messages").addEventListener("scroll", () => { S.stick = atBottom(); });
    if (window.ResizeObserver) new ResizeObserver(() => { if (S.stick) toBottom(); }).observe($("#messages"));
    let lastDate = "";
    function messageItem(m) {
      const flagged = m.direction === "in" && m.sender === "user" && m.risk && m.risk !== "none";
      const li = el("li", {class: "msg " + m.sender + " " + m.direction + (flagged ? " flagged risk-" + m.risk : ""),
        "data-id": m.id});
      const head = el("div", {class: "msg-head"});
      head.append(el("span", {class: "sender"}, (LABELS.sender[m.sender] || m.sender) + (m.by ? `（${m.by}）` : "")));
      head.append(el("time", {class: "at", datetime: m.created_at}, m.time_label));
      if (m.status) head.append(el("span", {class: "status " + m.status, "data-msg": m.id}, LABELS.status[m.status] || m.status));
      li.append(head, el("div", {class: "text"}, m.text == null ? `（${m.kind}）` : m.text));
      if (flagged) li.append(el("mark", {class: "cue"}, `${RISK[m.risk] || m.risk}：${(m.cues || []).join("／")}`));
      return li;
    }
    function appendMessages(ms) {
      const ol = $("#messages");
      for (const m of ms) {
        if (m.date_label !== lastDate) { ol.append(el("li", {class: "day"}, m.date_label)); lastDate = m.date_label; }
        ol.append(messageItem(m));
      }
    }
    function noteItem(n) {
      const li = el("li", {class: "note" + (n.kind !== "counselor" ? " " + n.kind : ""), "data-id": n.id});
      li.append(el("span", {class: "by"}, `${n.by}${NOTE_KINDS[n.kind] ? "（" + NOTE_KINDS[n.kind] + "）" : ""}・${n.at_label}：`));
      li.append(el("span", {class: "note-text"}, n.text));
      return li;
    }
    function saveDraft() {
      if (!S.open) return;
      const t = $("#text").value;
      if (t) sessionStorage.setItem(draftKey(S.open), t); else sessionStorage.removeItem(draftKey(S.open));
    }
    function setEnabled(ids, on) { ids.forEach(id => { const b = document.getElementById(id); if (b) b.disabled = !on; }); }
    const ACTION_BUTTONS = ["claim", "send", "addnote", "close", "transfer", "reopen", "add-supervisor-note", "take-over", "milestone-add"];

    async function open(cid, {push = true, watch = false} = {}) {
      if (S.open && S.open !== cid) saveDraft();
      // Nothing of the previous chat may be acted on while the next one loads.
      setEnabled(ACTION_BUTTONS, false);
      ["#claimbox", "#reply", "#actions", "#closed-panel", "#watch-panel", "#transfer-notice", "#chat-status", "#idle-prompt"]
        .forEach(s => { $(s).hidden = true; });
      S.open = cid; S.detail = null; S.watching = watch;
      // The previous chat's messages go at once: nobody reads one chat while typing into another.
      $("#chat").removeAttribute("data-loaded");
      $("#messages").replaceChildren(); $("#title").textContent = "読み込み中…"; $("#risk").textContent = "";
      if (push && location.pathname !== `/console/c/${cid}`) history.pushState({cid}, "", `/console/c/${cid}`);
      document.querySelectorAll(".chat-item.current, #queue tr.current").forEach(e => e.classList.remove("current"));
      document.querySelectorAll(`[data-id="${cid}"].chat-item, #queue tr[data-id="${cid}"]`).forEach(e => e.classList.add("current"));
      $("#text").value = sessionStorage.getItem(draftKey(cid)) || "";
      await load(cid, {scroll: true});
      poll();
    }

    async function load(cid, {scroll = false} = {}) {
      let c;
      try { c = await api(`/consultations/${cid}` + (S.watching ? "?watch=1" : "")); } catch (e) {
        $("#chat-empty").textContent = e.message; $("#chat-empty").hidden = false; $("#chat-body").hidden = true;
        $("#info").hidden = true; return;
      }
      if (S.open !== cid) return;  // switched meanwhile
      const keep = !scroll && !S.stick ? $("#messages").scrollTop : null;
      const wasMine = S.detail && S.detail.id === c.id && S.detail.can && S.detail.can.reply;
      S.detail = c; S.stamp = c.stamp;
      $("#chat-empty").hidden = true; $("#chat-body").hidden = false; $("#info").hidden = false;
      $("#title").textContent = `${c.pseudonym}（${c.state_label}）`;
      const risk = $("#risk");
      risk.textContent = c.risk_label ? `${c.risk_label}${c.about_other ? "（家族などからの報告）" : ""}：${c.cues.join("／")}` : "";
      risk.className = "risk " + c.risk;
      $("#chat-meta").textContent = [c.organization_name, c.counselor ? `担当：${c.counselor}` : "",
        c.claimed_at_label ? `開始 ${c.claimed_at_label}` : "", c.training ? "研修" : ""].filter(Boolean).join("　");
      const ol = $("#messages"); ol.replaceChildren(); lastDate = "";
      appendMessages(c.messages);
      S.after = c.last_message_id;
      renderInfo(c);
      renderControls(c);
      if (keep === null) toBottom(); else ol.scrollTop = keep;
      if (wasMine && !(c.can && c.can.reply) && c.state === "active") {
        const status = $("#chat-status"); status.hidden = false;
        status.textContent = `この相談はいま${c.counselor}さんが担当しています。`;
      }
      $("#chat").dataset.loaded = String(c.id);  // (tests wait for this: the pane shows this chat)
      markRead(c.messages);
    }

    function renderControls(c) {
      const can = c.can || {};
      $("#claimbox").hidden = !can.claim;
      $("#reply").hidden = !can.reply;
      $("#actions").hidden = !(can.transfer || can.close);
      $("#transferform").hidden = !can.transfer;
      $("#closeform").hidden = !can.close;
      $("#noteform").hidden = !can.note;
      const closed = c.state === "closed";
      $("#closed-panel").hidden = !closed;
      if (closed) {
        $("#closed-at").textContent = c.closed.at_label;
        $("#closed-disposition").textContent = c.closed.disposition_label;
        $("#closed-referral").textContent = c.closed.referral_label || "—";
        $("#reopenform").hidden = !can.reopen;
      }
      $("#watch-panel").hidden = !(can.supervise && !can.reply);
      $("#take-over").hidden = !can.take_over;
      $("#idle-prompt").hidden = !(c.idle && can.reply);  // the evening clock (issue 10): the user went quiet
      // The note of the last hand-over, for whoever takes it on: me by name, or my organization's queue.
      const last = c.transfers[c.transfers.length - 1];
      const notice = $("#transfer-notice");
      if (last && ((can.reply && last.to_id === me) || (c.state === "waiting" && !last.to_staff))) {
        const where = last.to_organization ? `（${last.to_organization}へ）` : "";
        notice.textContent = `${last.from || "—"}さんから引き継ぎ${where}（${last.at_label}）` + (last.note ? `：「${last.note}」` : "");
        notice.hidden = false;
      }
      setEnabled(["claim"], can.claim); setEnabled(["send"], can.reply); setEnabled(["addnote"], can.note);
      setEnabled(["close"], can.close); setEnabled(["transfer"], can.transfer); setEnabled(["reopen"], can.reopen);
      setEnabled(["add-supervisor-note"], can.supervise); setEnabled(["take-over"], can.take_over);
      setEnabled(["milestone-add"], true);
      const form = $("#milestoneform");
      if (form) form.action = `/console/c/${c.id}/milestones`;
    }

    function renderInfo(c) {
      const dl = $("#intake"); dl.replaceChildren();
      for (const [k, label] of [["who", "だれ"], ["age_band", "年代"], ["area", "地域"], ["concern", "内容"]]) {
        dl.append(el("dt", {}, label), el("dd", {"data-field": k}, c.intake_labels[k]));
      }
      // Issue 10: every routing decision with its reason (and the members tried).
      const routing = $("#routing"); routing.replaceChildren();
      for (const d of c.routing || []) {
        const tried = d.tried.length ? `（${d.tried.map(t => `${t.slug}：${t.label}`).join("、")}）` : "";
        routing.append(el("li", {"data-kind": d.kind}, `${d.kind_label}：${d.text}${tried}`));
      }
      $("#routing-section").hidden = !(c.routing || []).length;
      const labels = $("#labels"); labels.replaceChildren();
      if (!c.label_options.length) labels.append(el("p", {class: "hint"}, "この団体のラベルはまだありません。"));
      for (const l of c.label_options) {
        const box = el("input", {type: "checkbox", "data-label": l.id});
        box.checked = c.labels.includes(l.id);
        box.disabled = !(c.can && c.can.label);
        box.addEventListener("change", async () => {
          try { await api(`/consultations/${c.id}/labels`, "POST", {label_id: l.id, on: box.checked}); S.version = ""; poll(); }
          catch (e) { box.checked = !box.checked; showErrors($("#info"), e); }
        });
        const chip = el("label", {class: "label-chip"}); chip.append(box, document.createTextNode(l.name));
        labels.append(chip);
      }
      const earlier = $("#earlier"); earlier.replaceChildren();
      if (!c.earlier.length) earlier.append(el("li", {class: "hint"}, "はじめての相談です。"));
      for (const e of c.earlier) {
        const li = el("li");
        li.append(el("a", {href: "/console/c/" + e.id, class: "open", "data-id": e.id},
          `${e.date_label}　${e.state_label}${e.disposition_label ? "・" + e.disposition_label : ""}${e.referral_label ? "（" + e.referral_label + "）" : ""}`));
        earlier.append(li);
      }
      const notes = $("#notes"); notes.replaceChildren(...c.notes.map(noteItem));
      S.notesAfter = c.notes.length ? c.notes[c.notes.length - 1].id : 0;
      const ms = $("#milestones"); ms.replaceChildren(...c.milestones.map(m =>
        el("li", {}, `${m.occurred_on}　${m.label}${m.next_step ? "（" + m.next_step + "）" : ""}`)));
      const tr = $("#transfers"); tr.replaceChildren(...c.transfers.map(t =>
        el("li", {class: "transfer"}, `${t.at_label}　${t.from || "—"} → ${t.to || "—"}${t.note ? "：" + t.note : ""}`)));
    }

    async function applyChat(ch) {
      if (ch.error) return;
      if (S.stamp !== null && ch.stamp !== S.stamp) { await load(S.open); return; }
      const stay = S.stick;
      if (ch.messages.length) {
        if (S.detail && S.detail.can && S.detail.can.reply && ch.messages.some(m => m.sender === "user")) beep("message", 660);
        appendMessages(ch.messages);
        S.after = ch.messages[ch.messages.length - 1].id;
        if (stay) toBottom();
        markRead(ch.messages);
      }
      for (const [id, status] of Object.entries(ch.statuses)) {
        const s = document.querySelector(`.status[data-msg="${id}"]`);
        if (s && !s.classList.contains(status)) { s.className = "status " + status; s.textContent = LABELS.status[status] || status; }
      }
      if (ch.notes.length) {
        $("#notes").append(...ch.notes.map(noteItem));
        S.notesAfter = ch.notes[ch.notes.length - 1].id;
      }
    }

    function markRead(messages) {
      if (!messages.length || document.visibilityState !== "visible" || !S.open) return;
      const last = messages[messages.length - 1].id;
      api(`/consultations/${S.open}/read`, "POST", {message_id: last}).then(() => { S.version = ""; }).catch(() => {});
    }
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && S.detail) markRead([{id: S.after}]);
    });

    // --- actions ---
    async function act(form, fn) {
      clearErrors(form);
      try { await fn(); return true; } catch (e) { showErrors(form, e); return false; }
    }
    $("#claim").addEventListener("click", async () => {
      // Until the claim is answered, a reply could reach the server first and be refused.
      setEnabled(["claim", "send"], false);
      const cid = S.open;
      await act($("#claimbox"), () => api(`/consultations/${cid}/claim`, "POST", {}));
      S.version = ""; await load(cid); poll();
    });
    async function send() {
      const form = $("#reply"), t = $("#text"), cid = S.open;
      if ($("#send").disabled) return;
      setEnabled(["send"], false);
      const ok = await act(form, () => api(`/consultations/${cid}/messages`, "POST", {text: t.value}));
      if (ok && S.open === cid) { t.value = ""; sessionStorage.removeItem(draftKey(cid)); }
      setEnabled(["send"], true);
      await poll();
      if (ok) toBottom();
    }
    $("#reply").addEventListener("submit", ev => { ev.preventDefault(); send(); });
    $("#noteform").addEventListener("submit", async ev => {
      ev.preventDefault();
      const t = $("#note"), cid = S.open;
      if (await act($("#noteform"), () => api(`/consultations/${cid}/notes`, "POST", {text: t.value}))) t.value = "";
      poll();
    });
    $("#supervisorform").addEventListener("submit", async ev => {
      ev.preventDefault();
      const t = $("#supervisor-note"), cid = S.open;
      if (await act($("#supervisorform"), () => api(`/consultations/${cid}/supervisor-notes`, "POST", {text: t.value}))) t.value = "";
      poll();
    });
    $("#take-over").addEventListener("click", async () => {
      const cid = S.open;
      if (!window.confirm("この相談を引き取りますか？（担当の相談員に知らされます）")) return;
      if (await act($("#watch-panel"), () => api(`/consultations/${cid}/take-over`, "POST", {}))) {
        S.watching = false; S.version = ""; await load(cid); poll();
      }
    });
    $("#transferform").addEventListener("submit", async ev => {
      ev.preventDefault();
      const cid = S.open;
      let answer;
      const ok = await act($("#transferform"), async () => {
        const org = $("#transfer-org");
        const target = org && org.value ? {to_organization: org.value} : {to: $("#transfer-to").value};
        answer = await api(`/consultations/${cid}/transfer`, "POST", {...target, note: $("#transfer-note").value});
      });
      if (ok) {
        $("#transfer-to").value = ""; $("#transfer-note").value = ""; if ($("#transfer-org")) $("#transfer-org").value = "";
        S.version = ""; await load(cid);
        const status = $("#chat-status"); status.textContent = answer.confirmation; status.hidden = false;
        poll();
      }
    });
    $("#closeform").addEventListener("submit", async ev => {
      ev.preventDefault();
      const cid = S.open;
      const referral = $("#referral").value || null;
      const card = $("#referral-org");
      const referral_org = card && card.value ? card.value : null;  // sends that member's card (issue 10)
      const ok = await act($("#closeform"), () => api(`/consultations/${cid}/close`, "POST",
        {disposition: $("#disposition").value, referral, referral_org}));
      if (ok) { sessionStorage.removeItem(draftKey(cid)); S.version = ""; await load(cid); poll(); }
    });
    $("#reopenform").addEventListener("submit", async ev => {
      ev.preventDefault();
      const cid = S.open;
      if (await act($("#reopenform"), () => api(`/consultations/${cid}/reopen`, "POST", {reason: $("#reopen-reason").value}))) {
        $("#reopen-reason").value = ""; S.version = ""; await load(cid); poll();
      }
    });
    const milestone = $("#milestoneform");
    if (milestone) milestone.addEventListener("submit", async ev => {
      ev.preventDefault();
      const cid = S.open;
      const body = {kind: $("#milestone-kind").value, next_step: $("#milestone-next").value || null,
        occurred_on: $("#milestone-date").value || null};
      if (await act(milestone, () => api(`/consultations/${cid}/milestones`, "POST", body))) await load(cid);
    });

    // --- saved replies: "/" in the reply box ---
    const popup = $("#canned-popup"), list = $("#canned-list");
    let slash = null;  // {start, query, index}
    async function cannedFor(cid) {
      if (S.cannedFor !== cid) { S.canned = (await api(`/canned?consultation=${cid}`)).canned; S.cannedFor = cid; }
      return S.canned;
    }
    function slashQuery() {
      const t = $("#text"), upto = t.value.slice(0, t.selectionStart);
      // "/" (or "／") where a word can start: not inside a URL or after a letter or digit.
      const m = upto.match(/(^|[^A-Za-z0-9:/／])[/／]([^\s/／]*)$/);
      return m ? {start: upto.length - m[2].length - 1, query: m[2]} : null;
    }
    let popupSeq = 0;
    async function updatePopup() {
      const seq = ++popupSeq;
      if (!slashQuery() || !S.open) { closePopup(); return; }
      const all = await cannedFor(S.open);
      const found = slashQuery();  // the text may have changed while the replies loaded
      if (seq !== popupSeq) return;
      if (!found) { closePopup(); return; }
      const q = found.query.toLowerCase();
      const hits = all.filter(r => !q || r.title.toLowerCase().includes(q) || r.text.toLowerCase().includes(q));
      slash = {...found, index: Math.min(slash ? slash.index : 0, Math.max(0, hits.length - 1)), hits};
      list.replaceChildren(...hits.map((r, i) => {
        const li = el("li", {role: "option", class: "canned-item" + (i === slash.index ? " selected" : ""), "data-id": r.id,
          "aria-selected": i === slash.index ? "true" : "false"});
        li.append(el("b", {}, r.title), el("span", {class: "scope"}, {personal: "自分", organization: "団体", consortium: "共通"}[r.scope]),
          el("div", {class: "canned-text"}, r.rendered));
        li.addEventListener("mousedown", ev => { ev.preventDefault(); insert(r); });
        return li;
      }));
      if (!hits.length) list.append(el("li", {class: "hint"}, "一致する定型文はありません"));
      popup.hidden = false;
    }
    function closePopup() { popupSeq++; popup.hidden = true; slash = null; }
    function insert(r) {
      const t = $("#text");
      const found = slash || slashQuery();
      const start = found ? found.start : t.selectionStart, end = t.selectionStart;
      t.value = t.value.slice(0, start) + r.rendered + t.value.slice(end);
      const at = start + r.rendered.length;
      t.setSelectionRange(at, at); t.focus();
      closePopup(); saveDraft();
    }
    // While the counselor writes, LINE's loading animation on the user's screen (at most every 15 s a chat).
    const typedAt = {};
    function typing() {
      const cid = S.open;
      if (!S.detail || !S.detail.can || !S.detail.can.reply || Date.now() - (typedAt[cid] || 0) < 15000) return;
      typedAt[cid] = Date.now();
      api(`/consultations/${cid}/typing`, "POST", {}).catch(() => {});
    }
    $("#text").addEventListener("input", () => { saveDraft(); updatePopup(); clearErrors($("#reply")); typing(); });
    $("#close-dropped").addEventListener("click", async () => {
      const cid = S.open;
      const ok = await act($("#idle-prompt"), () => api(`/consultations/${cid}/close`, "POST", {disposition: "dropped"}));
      if (ok) { sessionStorage.removeItem(draftKey(cid)); S.version = ""; await load(cid); poll(); }
    });
    $("#text").addEventListener("blur", () => setTimeout(closePopup, 150));
    $("#text").addEventListener("keydown", ev => {
      if (!popup.hidden && slash) {
        if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
          ev.preventDefault();
          const n = slash.hits.length;
          if (n) { slash.index = (slash.index + (ev.key === "ArrowDown" ? 1 : n - 1)) % n; updatePopup(); }
          return;
        }
        if ((ev.key === "Enter" || ev.key === "Tab") && !ev.isComposing && slash.hits.length) {
          ev.preventDefault(); insert(slash.hits[slash.index]); return;
        }
        if (ev.key === "Escape") { ev.preventDefault(); closePopup(); return; }
      }
      if (ev.key !== "Enter" || ev.isComposing || ev.keyCode === 229) return;  // IME: Enter confirms a word
      const ctrl = ev.ctrlKey || ev.metaKey;
      if (ctrl || (sendKey() === "enter" && !ev.shiftKey)) { ev.preventDefault(); send(); }
    });

    // --- switching chats: clicks anywhere on the page, and the keyboard ---
    document.addEventListener("click", ev => {
      const a = ev.target.closest("a.open[data-id]");
      if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      open(Number(a.dataset.id), {watch: a.dataset.list === "watch"});
    });
    function ordered() {
      if (!S.lists) return [];
      return [...S.lists.mine, ...S.lists.queue].filter(matches).map(c => c.id);
    }
    document.addEventListener("keydown", ev => {
      if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        const ids = ordered();
        if (!ids.length) return;
        ev.preventDefault();
        const i = ids.indexOf(S.open);
        const next = i < 0 ? 0 : (i + (ev.key === "ArrowDown" ? 1 : ids.length - 1)) % ids.length;
        open(ids[next]);
      } else if (/^[1-9]$/.test(ev.key) && S.lists) {
        const c = S.lists.mine[Number(ev.key) - 1];
        if (c) { ev.preventDefault(); open(c.id); }
      }
    });
    window.addEventListener("popstate", ev => { if (ev.state && ev.state.cid) open(ev.state.cid, {push: false}); });
    const logout = $("#logoutform");
    if (logout) logout.addEventListener("submit", () => {
      Object.keys(sessionStorage).filter(k => k.startsWith("tsunagu-draft:")).forEach(k => sessionStorage.removeItem(k));
    });
    setInterval(tickWaits, 15000);

    const first = Number(root.dataset.open) || null;
    if (first) { history.replaceState({cid: first}, "", location.pathname); open(first, {push: false}); }
    loop();
  }

  // Coordinators: messages LINE never took (dead letters), until someone acknowledges each.
  // Coordinators: messages LINE never took (dead letters), until someone acknowledges each. The workspace
  // feeds it from its stream; other pages poll.
  function deadLetters({poll = true} = {}) {
    const box = document.querySelector("#dead-letters");
    if (!box) return null;
    const list = document.querySelector("#dead-letter-list");
    function update(items) {
      list.replaceChildren();
      for (const d of items) {
        const li = el("li", {"data-id": d.id});
        li.append(d.consultation_id ? el("a", {href: "/console/c/" + d.consultation_id, class: "open", "data-id": d.consultation_id}, d.pseudonym) : el("span", {}, d.pseudonym));
        li.append(el("span", {}, ` ${d.at}（${d.reason}）`));
        const ack = el("button", {type: "button"}, list.dataset.ack);
        ack.onclick = async () => { await api(`/dead-letters/${d.id}/ack`, "POST", {}).catch(() => {}); li.remove(); box.hidden = !list.children.length; if (poll) tick(); };
        li.append(ack); list.append(li);
      }
      box.hidden = !items.length;
    }
    async function tick() {
      try { update((await api("/dead-letters")).dead_letters); } catch (e) { /* next time */ }
    }
    if (poll) { tick(); setInterval(tick, 10000); }
    return {update};
  }

  function init() {
    // A form that does something hard to undo asks first (data-confirm: the question).
    document.addEventListener("submit", ev => {
      const question = ev.target.dataset && ev.target.dataset.confirm;
      if (question && !window.confirm(question)) ev.preventDefault();
    });
    const root = document.querySelector("#workspace");
    if (root) workspace(root); else { alerts(); deadLetters(); }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
  return {alerts, workspace};
})();
