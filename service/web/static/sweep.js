// Sweep: the phase diagram (two chosen axes, colour = log10 gradient ratio, marker = verdict) and the table.
"use strict";
(() => {
  const sweepId = JSON.parse(document.getElementById("sweep-id").textContent);
  const SYMBOLS = { healthy: "circle", vanishing: "triangle-down", exploding: "triangle-up", diverged: "x" };
  let rows = [], axes = [];

  // A row of GET /api/v1/sweeps/{id}'s table: {index, values: {axis: value}, experiment_id, status, summary}.
  const pointOf = (r) => r.values;
  const summaryOf = (r) => r.summary || {};
  const idOf = (r) => r.experiment_id;
  const distinct = (axis) => [...new Set(rows.map((r) => pointOf(r)[axis]).map((v) => JSON.stringify(v)))]
    .map((v) => JSON.parse(v)).sort((a, b) => (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b))));

  async function load() {
    try {
      const sweep = await GA.getJSON(`/ui/api/sweeps/${sweepId}`);
      rows = sweep.table || [];
      if (sweep.name) document.getElementById("sweep-name").textContent = `Sweep: ${sweep.name}`;
      document.getElementById("sweep-counts").textContent = Object.entries(sweep.counts || {}).map(([k, v]) => `${v} ${k}`).join(" · ");
      if (!axes.length) setupAxes();
      draw();
      table();
      const active = (sweep.counts || {}).queued || (sweep.counts || {}).running;
      if (active) setTimeout(load, 2000);
    } catch (error) {
      const box = document.getElementById("sweep-error");
      box.textContent = error.status === 404 ? "No such sweep (or this service has no sweeps yet)." : error.message;
      box.classList.remove("hidden");
    }
  }

  function setupAxes() {
    axes = [...new Set(rows.flatMap((r) => Object.keys(pointOf(r))))];
    const varying = axes.filter((a) => distinct(a).length > 1);
    const [x, y] = [varying[0] || axes[0], varying[1] || varying[0] || axes[0]];
    for (const [selectId, chosen] of [["x-axis", x], ["y-axis", y]]) {
      const select = document.getElementById(selectId);
      GA.fillMetricSelect(select, axes, chosen);
      select.addEventListener("change", draw);
    }
    document.getElementById("colour").addEventListener("change", draw);
  }

  function draw() {
    const xa = document.getElementById("x-axis").value, ya = document.getElementById("y-axis").value;
    const colour = document.getElementById("colour").value;
    const xs = distinct(xa), ys = distinct(ya), seen = {}, byVerdict = {};
    for (const r of rows) {
      const p = pointOf(r), s = summaryOf(r), verdict = s.verdict || r.status || "pending";
      const xi = xs.findIndex((v) => JSON.stringify(v) === JSON.stringify(p[xa]));
      const yi = ys.findIndex((v) => JSON.stringify(v) === JSON.stringify(p[ya]));
      const key = `${xi},${yi}`, n = (seen[key] = (seen[key] || 0) + 1) - 1;
      const ratio = s[colour];
      const group = (byVerdict[verdict] = byVerdict[verdict] || { x: [], y: [], c: [], text: [], ids: [] });
      group.x.push(xi + 0.12 * n); group.y.push(yi);
      group.c.push(ratio > 0 ? Math.log10(ratio) : ratio === 0 ? -30 : null);
      group.text.push(`${xa}=${p[xa]}, ${ya}=${p[ya]}<br>${verdict}, ratio ${GA.sci(ratio)}`);
      group.ids.push(idOf(r));
    }
    const traces = Object.entries(byVerdict).map(([verdict, g], k) => ({
      x: g.x, y: g.y, text: g.text, customdata: g.ids, name: verdict, type: "scatter", mode: "markers", hoverinfo: "text",
      marker: { symbol: SYMBOLS[verdict] || "square", size: 20, color: g.c, colorscale: "RdBu", cmid: 0,
                cmin: -12, cmax: 12, line: { color: "#333", width: 1 },
                showscale: k === 0, colorbar: { title: { text: "log10 ratio" } } },
    }));
    Plotly.react("phase-chart", traces, GA.layout({
      legend: { orientation: "h", y: -0.15, title: { text: "marker = verdict: " } },
      xaxis: { title: { text: xa }, tickvals: xs.map((_, i) => i), ticktext: xs.map(String), range: [-0.6, xs.length - 0.2], zeroline: false },
      yaxis: { title: { text: ya }, tickvals: ys.map((_, i) => i), ticktext: ys.map(String), range: [-0.6, ys.length - 0.4], zeroline: false },
    }), GA.CONFIG);
    const chart = document.getElementById("phase-chart");
    chart.removeAllListeners && chart.removeAllListeners("plotly_click");
    chart.on("plotly_click", (event) => { window.location.href = `/experiments/${event.points[0].customdata}`; });
    document.body.dataset.chartsReady = "1";
  }

  function table() {
    const head = document.querySelector("#sweep-table thead"), body = document.querySelector("#sweep-table tbody");
    head.innerHTML = `<tr>${axes.map((a) => `<th>${a}</th>`).join("")}<th>status</th><th>verdict</th><th>signal ratio</th><th></th></tr>`;
    body.innerHTML = rows.map((r) => {
      const p = pointOf(r), s = summaryOf(r), v = s.verdict || "";
      return `<tr>${axes.map((a) => `<td>${p[a] ?? ""}</td>`).join("")}<td><span class="badge status-${r.status || ""}">${r.status || ""}</span></td>` +
        `<td>${v ? `<span class="badge verdict-${v}">${v}</span>` : ""}</td><td class="num">${GA.sci(s.signal_ratio_init)}</td>` +
        `<td><a href="/experiments/${idOf(r)}">open</a></td></tr>`;
    }).join("");
  }
  load();
})();
