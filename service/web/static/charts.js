// Shared chart helpers for the GradAtlas pages (Plotly is loaded before this file).
"use strict";
const GA = (() => {
  const METRICS = JSON.parse(document.getElementById("metric-info").textContent);
  const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
  const CONFIG = { displaylogo: false, responsive: true };
  const SUP = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error((body && body.error && body.error.message) || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }
  function info(metric) { return METRICS[metric] || { label: metric, log: true, theory: false }; }
  function viridis(t) { return VIRIDIS[Math.max(0, Math.min(VIRIDIS.length - 1, Math.round(t * (VIRIDIS.length - 1))))]; }
  function sci(x) {
    if (x === null || x === undefined || !isFinite(x)) return "—";
    if (x === 0) return "0";
    if (Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4) return String(Number(x.toPrecision(3)));
    let e = Math.floor(Math.log10(Math.abs(x)));
    let m = Number((x / Math.pow(10, e)).toPrecision(2));
    if (Math.abs(m) >= 10) { m /= 10; e += 1; }  // 9.97 rounds to 10: carry into the exponent
    const head = m === 1 ? "" : `${m}×`;
    return head + "10" + String(e).split("").map((c) => SUP[c]).join("");
  }
  function clean(values, log) { return values.map((v) => (v === null || (log && v <= 0) ? null : v)); }
  // Mean-field line at initialisation: anchored at the last hidden layer, ×gain per layer towards the input.
  function theoryLine(profile, metric) {
    const gain = profile.theory && profile.theory.gain;
    const rows = profile.metrics[metric];
    if (!gain || !info(metric).theory || !rows || !rows.length) return null;
    const first = rows[0], anchor = first.length - 2;
    if (anchor < 0 || !(first[anchor] > 0)) return null;
    return first.slice(0, anchor + 1).map((_, l) => first[anchor] * Math.pow(gain, anchor - l));
  }
  function layout(extra) {
    return Object.assign({ margin: { l: 70, r: 20, t: 36, b: 50 }, font: { size: 12 }, legend: { orientation: "h", y: -0.22 },
                           plot_bgcolor: "#fff", paper_bgcolor: "#fff" }, extra);
  }
  function axisTitle(metric) {
    const i = info(metric), cut = i.label.indexOf(" (");
    const label = cut > 0 ? `${i.label.slice(0, cut)}<br>${i.label.slice(cut + 1)}` : i.label;
    return label + (i.log ? ", log scale" : "");
  }
  function fillMetricSelect(select, metrics, preferred) {
    select.innerHTML = "";
    for (const m of metrics) {
      const option = document.createElement("option");
      option.value = m; option.textContent = m;
      select.appendChild(option);
    }
    select.value = metrics.includes(preferred) ? preferred : metrics[0];
  }
  return { getJSON, info, viridis, sci, clean, theoryLine, layout, axisTitle, fillMetricSelect, CONFIG };
})();
