// The console's pages: plain JS polling /api/v1 (no build step, nothing from outside).
const Console = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const LABELS = {
    who: {self: "本人", family: "家族", other: "その他"},
    status: {pending: "送信待ち", sent: "送信済み", failed: "送信失敗", cancelled: "送信中止"},
    sender: {user: "相談者", bot: "自動応答", counselor: "相談員", system: "記録"},
  };
  const RISK = {moderate: "注意", high: "高リスク", imminent: "緊急"};
  async function api(path, method = "GET", body) {
    const opts = {method, headers: {"X-CSRF-Token": csrf}, credentials: "same-origin"};
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch("/api/v1" + path, opts);
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.error || r.status), {status: r.status});
    return data;
  }
  const el = (tag, attrs = {}, text) => {
    const e = document.createElement(tag);
    Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const minutes = s => s == null ? "" : `${Math.floor(s / 60)}分`;
  function beep() {
    // Counted on the page so a test (and a curious counselor) can see the alarm went off.
    const root = document.documentElement;
    root.dataset.alertSounds = String(Number(root.dataset.alertSounds || 0) + 1);
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const o = ctx.createOscillator(); o.frequency.value = 880; o.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.3);
    } catch (e) { /* no audio device: the visual alert stays */ }
  }

  function queuePage() {
    async function refresh() {
      const data = await api("/queue");
      const tbody = document.querySelector("#queue tbody"); tbody.replaceChildren();
      for (const c of data.queue) {
        const tr = el("tr", {"data-id": c.id, class: "risk-" + c.risk});
        const who = el("td", {}, c.pseudonym + (c.returning ? "（再相談）" : "") + (c.training ? " [研修]" : ""));
        for (const b of c.queue_badges || []) who.append(el("span", {class: "badge route"}, b));
        if (c.preferred_counselor) who.append(el("div", {class: "preferred"}, `希望：${c.preferred_counselor}`));
        tr.append(who);
        const risk = el("td"); if (c.risk_label) risk.append(el("span", {class: "badge " + c.risk}, c.risk_label));
        if (c.cues.length) risk.append(el("div", {class: "cues"}, c.cues.join("／")));
        tr.append(risk);
        const i = c.intake_labels;
        tr.append(el("td", {}, `${i.who}・${i.age_band}・${i.area}・${i.concern}`));
        tr.append(el("td", {}, minutes(c.waiting_seconds)));
        const open = el("td"); open.append(el("a", {href: "/console/c/" + c.id, class: "open"}, "開く")); tr.append(open);
        tbody.append(tr);
      }
      document.querySelector("#count").textContent = `${data.queue.length}件`;
      const mine = document.querySelector("#mine"); mine.replaceChildren();
      for (const c of data.mine) { const li = el("li"); li.append(el("a", {href: "/console/c/" + c.id}, c.pseudonym)); mine.append(li); }
    }
    refresh(); setInterval(refresh, 2000);
  }

  function chatPage(cid) {
    async function refresh() {
      const c = await api("/consultations/" + cid);
      document.querySelector("#title").textContent = `${c.pseudonym}（${c.state === "waiting" ? "待機中" : c.state === "active" ? "対応中" : c.state === "closed" ? "終了" : "受付中"}）`;
      const risk = document.querySelector("#risk");
      risk.textContent = c.risk_label ? `${c.risk_label}${c.about_other ? "（家族などからの報告）" : ""}：${c.cues.join("／")}` : "";
      risk.className = "risk " + c.risk;
      const dl = document.querySelector("#intake"); dl.replaceChildren();
      for (const [k, label] of [["who", "だれ"], ["age_band", "年代"], ["area", "地域"], ["concern", "内容"]]) {
        dl.append(el("dt", {}, label), el("dd", {"data-field": k}, c.intake_labels[k]));
      }
      document.querySelector("#earlier").textContent = c.earlier.length ? `以前の相談 ${c.earlier.length}件（いつでも再開できます）` : "";
      const ol = document.querySelector("#messages"); ol.replaceChildren();
      for (const m of c.messages) {
        const flagged = m.direction === "in" && m.sender === "user" && m.risk && m.risk !== "none";
        const li = el("li", {class: "msg " + m.sender + " " + m.direction + (flagged ? " flagged risk-" + m.risk : "")});
        li.append(el("span", {class: "sender"}, LABELS.sender[m.sender] || m.sender));
        li.append(el("span", {class: "text"}, m.text == null ? `（${m.kind}）` : m.text));
        if (flagged) li.append(el("span", {class: "cue"}, `${RISK[m.risk] || m.risk}：${(m.cues || []).join("／")}`));
        if (m.status) li.append(el("span", {class: "status " + m.status}, LABELS.status[m.status] || m.status));
        ol.append(li);
      }
      // Issue 10: every routing decision with its reason, and the transfer notes.
      const routing = document.querySelector("#routing");
      if (routing) {
        routing.replaceChildren();
        for (const d of c.routing || []) {
          const tried = d.tried.length ? `（${d.tried.map(t => `${t.slug}：${t.label}`).join("、")}）` : "";
          routing.append(el("li", {"data-kind": d.kind}, `${d.kind_label}：${d.text}${tried}`));
        }
        const handed = document.querySelector("#transfers"); handed.replaceChildren();
        for (const t of c.transfers || []) {
          handed.append(el("li", {class: "transfer"}, `${t.from || ""} → ${t.to_organization || t.to_staff || ""}` +
            (t.note ? `：${t.note}` : "")));
        }
      }
      const notes = document.querySelector("#notes"); notes.replaceChildren();
      for (const n of c.notes) notes.append(el("li", {class: "note"}, `${n.by}：${n.text}`));
      document.querySelector("#claimbox").hidden = c.state !== "waiting";
      document.querySelector("#idle-prompt").hidden = !c.idle;
    }
    api("/canned").then(d => {
      const sel = document.querySelector("#canned");
      d.canned.forEach(r => { const o = el("option", {value: r.text}, r.title); sel.append(o); });
      sel.onchange = () => { if (sel.value) document.querySelector("#text").value = sel.value; sel.value = ""; };
    });
    document.querySelector("#transferform").onsubmit = async ev => {
      ev.preventDefault();
      const org = document.querySelector("#transfer-org");
      const target = org && org.value ? {to_organization: org.value} : {to: document.querySelector("#transfer-to").value};
      try {
        await api(`/consultations/${cid}/transfer`, "POST", {...target, note: document.querySelector("#transfer-note").value});
      } catch (e) { alert(e.message); }
      refresh();
    };
    document.querySelector("#claim").onclick = async () => {
      // Until the claim is answered, a reply could reach the server first and be refused.
      const send = document.querySelector("#send"), claim = document.querySelector("#claim");
      send.disabled = claim.disabled = true;
      try { await api(`/consultations/${cid}/claim`, "POST", {}); } catch (e) { alert(e.message); }
      send.disabled = claim.disabled = false;
      await refresh();
    };
    document.querySelector("#reply").onsubmit = async ev => {
      ev.preventDefault(); const t = document.querySelector("#text");
      try { await api(`/consultations/${cid}/messages`, "POST", {text: t.value}); t.value = ""; } catch (e) { alert(e.message); }
      refresh();
    };
    document.querySelector("#noteform").onsubmit = async ev => {
      ev.preventDefault(); const t = document.querySelector("#note");
      await api(`/consultations/${cid}/notes`, "POST", {text: t.value}); t.value = ""; refresh();
    };
    document.querySelector("#closeform").onsubmit = async ev => {
      ev.preventDefault();
      const referral = document.querySelector("#referral").value || null;
      const card = document.querySelector("#referral-org");
      const referral_org = card && card.value ? card.value : null;  // sends that member's card (issue 10)
      try { await api(`/consultations/${cid}/close`, "POST", {disposition: document.querySelector("#disposition").value, referral, referral_org}); }
      catch (e) { alert(e.message); }
      refresh();
    };
    // The evening clock (issue 10): close a chat gone quiet as 中断/離脱; the loading animation while typing.
    document.querySelector("#close-dropped").onclick = async () => {
      try { await api(`/consultations/${cid}/close`, "POST", {disposition: "dropped"}); } catch (e) { alert(e.message); }
      refresh();
    };
    let typedAt = 0;
    document.querySelector("#text").addEventListener("input", () => {
      const now = Date.now();
      if (now - typedAt < 15000) return;
      typedAt = now;
      api(`/consultations/${cid}/typing`, "POST", {}).catch(() => {});
    });
    // Handlers are attached: a click can no longer fall through to a native form submit.
    for (const id of ["claim", "send", "addnote", "close"]) document.getElementById(id).disabled = false;
    refresh(); setInterval(refresh, 2000);
  }

  // Every console page: poll the alerts; a new alert key (new, escalated or re-alerted after 2 minutes
  // unclaimed) shows the banner and sounds, until the counselor acknowledges it.
  function alerts() {
    const box = document.querySelector("#crisis-alert");
    if (!box) return;
    const acknowledged = new Set(JSON.parse(sessionStorage.getItem("tsunagu-alerts-ack") || "[]"));
    let shown = [];
    document.querySelector("#crisis-alert-ack").addEventListener("click", () => {
      shown.forEach(k => acknowledged.add(k));
      sessionStorage.setItem("tsunagu-alerts-ack", JSON.stringify([...acknowledged].slice(-200)));
      box.hidden = true; document.title = document.title.replace(/^【緊急】/, "");
    });
    async function poll() {
      let data;
      try { data = await api("/alerts"); } catch (e) { return; }
      const fresh = data.alerts.filter(a => !acknowledged.has(a.key));
      const list = document.querySelector("#crisis-alert-list"); list.replaceChildren();
      for (const a of data.alerts) {
        const li = el("li", {"data-id": a.id, class: "risk-" + a.risk});
        const link = el("a", {href: "/console/c/" + a.id}, `${a.pseudonym}（${a.risk_label}${a.about_other ? "・家族から" : ""}）`);
        li.append(link, el("span", {class: "cues"}, ` ${a.cues.join("／")} ・待ち ${minutes(a.waiting_seconds)}` +
          (a.alert_count > 1 ? `・${a.alert_count}回目の通知` : "")));
        list.append(li);
      }
      if (!data.alerts.length) { box.hidden = true; return; }
      if (fresh.length) {
        const isNew = fresh.some(a => !shown.includes(a.key));
        shown = data.alerts.map(a => a.key);
        box.hidden = false;
        if (!document.title.startsWith("【緊急】")) document.title = "【緊急】" + document.title;
        if (isNew) beep();
      }
    }
    poll(); setInterval(poll, 3000);
  }

  // Coordinators: messages LINE never took (dead letters), until someone acknowledges each.
  function deadLetters() {
    const box = document.querySelector("#dead-letters");
    if (!box) return;
    const list = document.querySelector("#dead-letter-list");
    async function poll() {
      let data;
      try { data = await api("/dead-letters"); } catch (e) { return; }
      list.replaceChildren();
      for (const d of data.dead_letters) {
        const li = el("li", {"data-id": d.id});
        li.append(d.consultation_id ? el("a", {href: "/console/c/" + d.consultation_id}, d.pseudonym) : el("span", {}, d.pseudonym));
        li.append(el("span", {}, ` ${d.at}（${d.reason}）`));
        const ack = el("button", {type: "button"}, list.dataset.ack);
        ack.onclick = async () => { await api(`/dead-letters/${d.id}/ack`, "POST", {}).catch(() => {}); poll(); };
        li.append(ack); list.append(li);
      }
      box.hidden = !data.dead_letters.length;
    }
    poll(); setInterval(poll, 10000);
  }

  function init() {
    const chat = document.querySelector("section.chat[data-cid]");
    if (chat) chatPage(Number(chat.dataset.cid));
    if (document.querySelector("#queue")) queuePage();
    alerts();
    deadLetters();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
  return {queuePage, chatPage, alerts};
})();

// Start the page's script from data in the page (the CSP allows no inline script).
(() => {
  const chat = document.querySelector("section.chat[data-cid]");
  if (chat) Console.chatPage(Number(chat.dataset.cid));
  else if (document.querySelector("#queue")) Console.queuePage();
})();
