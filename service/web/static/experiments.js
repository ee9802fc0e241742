// The history table: refresh the rows that are still queued or running, without reloading.
"use strict";
(() => {
  const ACTIVE = ["queued", "running"];

  async function refresh() {
    const rows = [...document.querySelectorAll("#experiments tbody tr[data-id]")].filter((r) => ACTIVE.includes(r.dataset.status));
    for (const row of rows) {
      try {
        const response = await fetch(`/ui/api/experiments/${row.dataset.id}`, { credentials: "same-origin" });
        if (!response.ok) continue;
        const e = await response.json();
        row.dataset.status = e.status;
        const progress = e.status === "running" ? ` <small>${e.progress.step}/${e.progress.total}</small>` : "";
        row.querySelector("td.status").innerHTML = `<span class="badge status-${e.status}" data-status="${e.status}">${e.status}</span>${progress}`;
        if (e.summary) {
          row.querySelector("td.verdict").innerHTML = `<span class="badge verdict-${e.summary.verdict}">${e.summary.verdict}</span>`;
          row.querySelector("td.ratio").textContent = sci(e.summary.signal_ratio_init);
        }
      } catch (error) { /* the next round tries again */ }
    }
    setTimeout(refresh, 1500);
  }

  function sci(x) {
    if (x === null || x === undefined) return "—";
    return x === 0 ? "0" : Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(1);
  }

  document.getElementById("compare-selected").addEventListener("click", () => {
    const ids = [...document.querySelectorAll("input.pick:checked")].map((box) => box.value);
    if (ids.length) window.location.href = `/compare?ids=${ids.join(",")}`;
  });
  refresh();
})();
