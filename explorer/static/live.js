// Keeps the front page live: polls /api/blocks and redraws the table.
// Values are set with textContent only, never parsed as HTML.
(function () {
  "use strict";
  const head = document.getElementById("chain-head");
  const body = document.getElementById("blocks");
  if (!head || !body) return;
  const every = parseInt(head.dataset.pollMs, 10) || 2000;
  const limit = parseInt(head.dataset.limit, 10) || 20;
  const state = document.getElementById("live-state");

  function short(text, keep) {
    return text.length <= 2 * keep + 1 ? text : text.slice(0, keep) + "\u2026" + text.slice(-keep);
  }
  function cell(row, text, href, mono) {
    const td = row.insertCell();
    const el = href ? document.createElement("a") : document.createElement("span");
    if (href) el.href = href;
    if (mono) el.className = "mono";
    el.textContent = text;
    td.appendChild(el);
  }
  function when(rfc3339) {
    return rfc3339.slice(0, 19).replace("T", " ") + " UTC";
  }
  function draw(data) {
    document.getElementById("latest-height").textContent = data.height;
    document.getElementById("latest-time").textContent = when(data.time);
    body.replaceChildren();
    for (const b of data.blocks) {
      const row = body.insertRow();
      cell(row, String(b.height), "/block/" + b.height);
      cell(row, when(b.time));
      cell(row, String(b.num_txs));
      cell(row, short(b.proposer, 6), null, true);
      cell(row, short(b.hash, 8), null, true);
    }
  }
  async function poll() {
    try {
      const response = await fetch("/api/blocks?limit=" + limit, {cache: "no-store"});
      if (!response.ok) throw new Error("HTTP " + response.status);
      draw(await response.json());
      state.textContent = "live";
      state.className = "";
    } catch (err) {
      state.textContent = "node unreachable, retrying";
      state.className = "bad";
    }
    setTimeout(poll, every);
  }
  setTimeout(poll, every);
})();
