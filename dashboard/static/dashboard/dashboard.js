/* Sessions-per-week chart. Data comes from a json_script block: no inline script (CSP). */
(function () {
  "use strict";
  function draw() {
    var canvas = document.getElementById("sessions-chart");
    var source = document.getElementById("sessions-data");
    if (!canvas || !source || typeof window.Chart === "undefined") { return; }
    var points = JSON.parse(source.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: points.map(function (p) { return p.week; }),
        datasets: [{ label: "Completed sessions", data: points.map(function (p) { return p.sessions; }),
                     backgroundColor: "#0b5394" }]
      },
      options: {
        animation: false,
        responsive: true,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { display: false } }
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
