// The dashboard's charts, drawn with the vendored Apache ECharts from the JSON the page carries.
// Each chart has its table beside it on the page; the chart is a reading aid, the table the record.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || typeof echarts === "undefined") return;
    var data = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec = data[el.getAttribute("data-chart")];
      if (!spec) return;
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption({
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { show: spec.series.length > 1, top: 0 },
        grid: { left: 48, right: 16, top: spec.series.length > 1 ? 32 : 16, bottom: 40 },
        xAxis: { type: "category", data: spec.x, axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", minInterval: 1 },
        series: spec.series.map(function (s) {
          return Object.assign({ barMaxWidth: 48 }, s);
        }),
      });
      charts.push(chart);
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
