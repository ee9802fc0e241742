// Compare: several experiments' layer profiles overlaid, one colour each.
"use strict";
(() => {
  const experiments = JSON.parse(document.getElementById("compare-data").textContent);
  const COLOURS = ["#2457c5", "#d1342f", "#1e8a4c", "#7b2bb5", "#e08a00", "#17a2b8", "#6c757d", "#c2185b"];
  const profiles = {};

  async function load() {
    for (const e of experiments) {
      if (e.status !== "succeeded") continue;
      try { profiles[e.id] = await GA.getJSON(`/ui/api/experiments/${e.id}/profile`); } catch (error) { /* shown as missing */ }
    }
    const metrics = [...new Set(Object.values(profiles).flatMap((p) => Object.keys(p.metrics)))];
    const select = document.getElementById("metric");
    GA.fillMetricSelect(select, metrics, "signal_norm");
    select.addEventListener("change", draw);
    document.getElementById("step-choice").addEventListener("change", draw);
    draw();
  }

  function draw() {
    const metric = document.getElementById("metric").value, which = document.getElementById("step-choice").value;
    const i = GA.info(metric), traces = [];
    experiments.forEach((e, k) => {
      const p = profiles[e.id];
      if (!p || !p.metrics[metric]) return;
      const row = which === "first" ? 0 : p.steps.length - 1, colour = COLOURS[k % COLOURS.length];
      const label = `${e.name || e.id} (step ${p.steps[row]})`;
      traces.push({ x: p.layers.map((l) => l.index), y: GA.clean(p.metrics[metric][row], i.log), name: label, type: "scatter",
                    mode: "lines+markers", line: { color: colour, width: 2 }, marker: { size: 4 } });
      const theory = which === "first" ? GA.theoryLine(p, metric) : null;
      if (theory) traces.push({ x: theory.map((_, l) => l), y: theory, name: `${e.name || e.id}: theory`, type: "scatter",
                                mode: "lines", line: { color: colour, dash: "dash", width: 1.5 } });
    });
    Plotly.react("compare-chart", traces, GA.layout({
      title: { text: `${metric}, layer by layer`, font: { size: 14 } }, legend: { orientation: "v", x: 1.02, y: 1 },
      margin: { l: 70, r: 20, t: 36, b: 50 },
      xaxis: { title: { text: "layer index (input → output)" } },
      yaxis: { title: { text: GA.axisTitle(metric), font: { size: 11 } }, type: i.log ? "log" : "linear", exponentformat: "power" },
    }), GA.CONFIG);
    document.body.dataset.chartsReady = "1";
  }
  load();
})();
