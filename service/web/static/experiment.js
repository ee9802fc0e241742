// One experiment: live status while it runs, then the charts of its profile.
"use strict";
(() => {
  const experiment = JSON.parse(document.getElementById("experiment-data").textContent);
  const id = experiment.id;
  const TERMINAL = ["succeeded", "failed", "cancelled"];
  let profile = null;

  function setStatus(e) {
    const badge = document.querySelector("#status .badge");
    badge.textContent = e.status;
    badge.className = `badge status-${e.status}`;
    badge.dataset.status = e.status;
    const total = e.progress.total || 1;
    document.querySelector("#progress .fill").style.width = `${(100 * e.progress.step) / total}%`;
    document.getElementById("progress-step").textContent = e.progress.step;
  }

  async function poll() {
    try {
      const e = await GA.getJSON(`/ui/api/experiments/${id}`);
      setStatus(e);
      if (!TERMINAL.includes(e.status)) { setTimeout(poll, 1000); return; }
      document.getElementById("progress").classList.add("hidden");
      const fragment = await fetch(`/experiments/${id}/summary`, { credentials: "same-origin" });
      if (fragment.ok) document.getElementById("summary").innerHTML = await fragment.text();
      if (e.status === "succeeded") await showCharts();
    } catch (error) {
      setTimeout(poll, 3000);  // a restarting server: keep trying, quietly
    }
  }

  function drawProfile(metric) {
    const i = GA.info(metric), rows = profile.metrics[metric], steps = profile.steps;
    const layers = profile.layers.map((l) => l.index);
    const span = Math.max(1, steps[steps.length - 1] - steps[0]);
    const traces = rows.map((row, k) => ({
      x: layers, y: GA.clean(row, i.log), type: "scatter", mode: "lines+markers", name: `step ${steps[k]}`,
      line: { color: GA.viridis((steps[k] - steps[0]) / span), width: 1.6 }, marker: { size: 4 },
      showlegend: k === 0 || k === rows.length - 1,
      hovertemplate: `step ${steps[k]}, layer %{x}: %{y:.3e}<extra></extra>`,
    }));
    const theory = GA.theoryLine(profile, metric);
    if (theory) {
      traces.push({ x: layers.slice(0, theory.length), y: theory, type: "scatter", mode: "lines", name: "mean-field theory",
                    line: { color: "#d62728", dash: "dash", width: 2.4 },
                    hovertemplate: `theory ×${profile.theory.gain.toPrecision(3)}/layer: %{y:.3e}<extra></extra>` });
    }
    Plotly.react("profile-chart", traces, GA.layout({
      title: { text: `Layer profile: ${metric}`, font: { size: 14 } },
      xaxis: { title: { text: "layer index (input → output; read-out last)" }, dtick: layers.length > 20 ? 5 : 1 },
      yaxis: { title: { text: GA.axisTitle(metric), font: { size: 11 } }, type: i.log ? "log" : "linear", exponentformat: "power" },
    }), GA.CONFIG);
  }

  function drawHeatmap(metric) {
    const i = GA.info(metric);
    const z = profile.metrics[metric].map((row) => row.map((v) => (v === null ? null : i.log ? (v > 0 ? Math.log10(v) : null) : v)));
    Plotly.react("heatmap-chart", [{
      z, x: profile.layers.map((l) => l.index), y: profile.steps.map(String), type: "heatmap", colorscale: "Viridis",
      colorbar: { title: { text: i.log ? "log10" : "" } }, hovertemplate: "layer %{x}, step %{y}: %{z:.2f}<extra></extra>",
    }], GA.layout({ title: { text: `${i.log ? "log10 " : ""}${metric}, layer × step`, font: { size: 14 } },
                    xaxis: { title: { text: "layer index (input → output)" } }, yaxis: { title: { text: "training step" }, type: "category" } }),
    GA.CONFIG);
  }

  function drawLoss() {
    const traces = [{ x: profile.steps, y: profile.loss, name: "loss", type: "scatter", mode: "lines+markers", line: { color: "#2457c5" } }];
    if (profile.accuracy && profile.accuracy.length) {
      traces.push({ x: profile.steps, y: profile.accuracy, name: "accuracy", yaxis: "y2", type: "scatter", mode: "lines+markers",
                    line: { color: "#1e8a4c", dash: "dot" } });
    }
    Plotly.react("loss-chart", traces, GA.layout({
      xaxis: { title: { text: "training step" } }, yaxis: { title: { text: "loss (nats)" } },
      yaxis2: { title: { text: "accuracy" }, overlaying: "y", side: "right", range: [0, 1], dtick: 0.25, showgrid: false },
      margin: { l: 60, r: 60, t: 20, b: 50 },
    }), GA.CONFIG);
  }

  function drawFractions() {
    const layers = profile.layers.map((l) => l.index), last = profile.steps.length - 1, traces = [];
    const styles = { dead_fraction: "#7b2bb5", saturated_fraction: "#e08a00" };
    for (const [metric, color] of Object.entries(styles)) {
      const rows = profile.metrics[metric];
      if (!rows) continue;
      traces.push({ x: layers, y: rows[0], name: `${metric.replace("_", " ")}, step ${profile.steps[0]}`, type: "scatter",
                    mode: "lines", line: { color, dash: "dot" } });
      traces.push({ x: layers, y: rows[last], name: `${metric.replace("_", " ")}, step ${profile.steps[last]}`, type: "scatter",
                    mode: "lines+markers", line: { color } });
    }
    Plotly.react("fractions-chart", traces, GA.layout({
      xaxis: { title: { text: "layer index (input → output)" } }, yaxis: { title: { text: "fraction of the layer" }, range: [-0.02, 1.02] },
      margin: { l: 60, r: 20, t: 20, b: 50 }, legend: { orientation: "h", y: -0.35 },
    }), GA.CONFIG);
  }

  function drawMetric(metric) {
    drawProfile(metric);
    drawHeatmap(metric);
    const base = `/ui/api/experiments/${id}`;
    document.getElementById("png-link").href = `${base}/plot.png?metric=${metric}`;
    document.getElementById("svg-link").href = `${base}/plot.svg?metric=${metric}`;
    document.getElementById("heatmap-link").href = `${base}/plot.png?metric=${metric}&kind=heatmap`;
    document.getElementById("metric-help").textContent = GA.info(metric).label;
  }

  async function showCharts() {
    document.getElementById("charts").classList.remove("hidden");
    profile = await GA.getJSON(`/ui/api/experiments/${id}/profile`);
    const select = document.getElementById("metric");
    GA.fillMetricSelect(select, Object.keys(profile.metrics), "signal_norm");
    select.addEventListener("change", () => drawMetric(select.value));
    drawMetric(select.value);
    drawLoss();
    drawFractions();
    document.body.dataset.chartsReady = "1";
  }

  if (TERMINAL.includes(experiment.status)) {
    if (experiment.status === "succeeded") showCharts();
  } else {
    poll();
  }
})();
