// The console's little JavaScript: live countdowns to due times, and the charts
// (Chart.js, served by this process from static/vendor). Data comes from
// <script type="application/json"> blocks the server renders; nothing is fetched.
"use strict";

function span(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
  const m = Math.floor(s % 3600 / 60), r = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return (d ? d + "d " : "") + h + "h " + pad(m) + "m " + pad(r) + "s";
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll(".countdown[data-due]")) {
    const left = Date.parse(el.dataset.due) - now;
    el.textContent = left >= 0 ? "due in " + span(left) : "overdue by " + span(left);
    el.classList.toggle("overdue", left < 0);
    el.title = el.getAttribute("datetime");
  }
}

function data(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

function charts() {
  if (typeof Chart === "undefined") return;
  const balance = data("balance-data");
  if (balance) {
    new Chart(document.getElementById("balance-chart"), {
      type: "line",
      // Each point's tick names its cause over its time (R-CRD-9); the tooltip too.
      data: { labels: balance.labels.map((at, i) => [balance.causes[i], at]),
              datasets: [{ label: "balance (credits)", data: balance.balance, stepped: true,
                           borderColor: "#1b5fbf", backgroundColor: "#1b5fbf", pointRadius: 4 }] },
      options: { maintainAspectRatio: false, animation: false,
                 plugins: { tooltip: { callbacks: {
                   afterLabel: (item) => "cause: " + balance.causes[item.dataIndex] } } },
                 scales: { x: { ticks: { maxTicksLimit: 12, font: { size: 11 } } } } },
    });
  }
  const breaches = data("breach-data");
  if (breaches) {
    const colours = ["#b3261e", "#1b5fbf", "#1f7a3a", "#8a4fbf", "#c77800", "#5b6675"];
    new Chart(document.getElementById("breach-chart"), {
      type: "bar",
      data: { labels: breaches.labels,
              datasets: breaches.series.map((s, i) => ({ label: s.label, data: s.data,
                backgroundColor: colours[i % colours.length] })) },
      options: { maintainAspectRatio: false, animation: false,
                 scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true,
                                                      ticks: { precision: 0 } } } },
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  tick();
  setInterval(tick, 1000);
  charts();
});
