/* Dashboards and the big screen: ECharts charts, a Leaflet map, and the big screen's refresh.
 *
 * The first render reads the series the page embeds (#dashboard-series, #dashboard-labels), so no
 * request is needed; the big screen (data-refresh-seconds on #dashboard) fetches data.json again
 * on that interval and redraws the figures, charts and map in place. Everything else comes from
 * data attributes, so the pages hold no inline script. Without a tile URL the map requests nothing
 * from outside the site (closed networks): points draw on the plain background.
 * After each draw the root carries data-drawn (charts finished) and data-refreshes (fetches done),
 * for people and for the browser test.
 */
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root || !window.echarts) {
    return;
  }
  var data = root.dataset;
  var dark = root.classList.contains("dashboard-dark");
  var labels = JSON.parse(document.getElementById("dashboard-labels").textContent);
  var charts = {};
  var finished = {};

  function format(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  var palette = dark
    ? ["#4fc3f7", "#ffd54f", "#81c784", "#ff8a65", "#ba68c8"]
    : ["#1a5fb4", "#c0392b", "#1e7e34", "#b7791f", "#6f42c1"];
  var fontSize = dark ? 18 : 12;

  function base() {
    return {
      color: palette,
      backgroundColor: "transparent",
      textStyle: { fontSize: fontSize },
      // Drawn on the canvas: ECharts' HTML tooltip carries style="" attributes, which the
      // Content-Security-Policy refuses.
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0, textStyle: { fontSize: fontSize } },
      grid: { left: 8, right: 16, top: dark ? 44 : 32, bottom: 8, containLabel: true },
    };
  }

  function hasValues(list) {
    return (list || []).some(function (value) {
      return value !== null && value !== undefined;
    });
  }

  var builders = {
    trend: function (series) {
      var trend = series.trend;
      var lines = [
        { name: labels.leads, type: "line", data: trend.leads },
        { name: labels.person_times, type: "line", data: trend.person_times },
      ];
      // A department has no visits of its own: its slice sends nulls, and no line is drawn.
      if (hasValues(trend.visits)) {
        lines.splice(1, 0, { name: labels.visits, type: "line", data: trend.visits });
      }
      return Object.assign(base(), {
        xAxis: { type: "category", data: trend.months, axisLabel: { fontSize: fontSize } },
        yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: fontSize } },
        series: lines,
      });
    },
    groups: function (series) {
      var groups = series.groups;
      var option = Object.assign(base(), {
        legend: { show: false },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, renderMode: "richText" },
        // Largest on top: ECharts draws a category axis from the bottom up.
        yAxis: {
          type: "category",
          data: groups.labels.slice().reverse(),
          axisLabel: { fontSize: fontSize, width: dark ? 260 : 180, overflow: "truncate" },
        },
        xAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: fontSize } },
        series: [{ name: labels.leads, type: "bar", data: groups.leads.slice().reverse() }],
      });
      if (!groups.labels.length) {
        option.title = empty();
      }
      return option;
    },
    departments: function (series) {
      var departments = series.departments;
      var bars = [
        { name: labels.orders, type: "bar", data: departments.orders },
        { name: labels.overdue, type: "bar", data: departments.overdue },
      ];
      var yAxes = [{ type: "value", minInterval: 1, axisLabel: { fontSize: fontSize } }];
      // The rates share a 0–100 axis on the right; a slice with no order due yet has none.
      if (hasValues(departments.sign_rate) || hasValues(departments.reply_rate)) {
        yAxes.push({ type: "value", min: 0, max: 100, axisLabel: { fontSize: fontSize } });
        bars.push(
          { name: labels.sign_rate, type: "line", yAxisIndex: 1, data: departments.sign_rate },
          { name: labels.reply_rate, type: "line", yAxisIndex: 1, data: departments.reply_rate }
        );
      }
      var option = Object.assign(base(), {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, renderMode: "richText" },
        xAxis: {
          type: "category",
          data: departments.labels,
          axisLabel: { fontSize: fontSize, interval: 0, rotate: departments.labels.length > 5 ? 30 : 0 },
        },
        yAxis: yAxes,
        series: bars,
      });
      if (!departments.labels.length) {
        option.title = empty();
      }
      return option;
    },
  };

  function empty() {
    return {
      text: labels.empty,
      left: "center",
      top: "middle",
      textStyle: { fontSize: fontSize, fontWeight: "normal", color: dark ? "#9fb3c8" : "#616e7c" },
    };
  }

  function markDrawn() {
    var names = Object.keys(charts);
    var done = names.filter(function (name) {
      return finished[name];
    });
    if (done.length === names.length) {
      root.setAttribute("data-drawn", String(done.length));
    }
  }

  function drawCharts(series) {
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      var kind = element.getAttribute("data-chart");
      if (!builders[kind]) {
        return;
      }
      if (!charts[kind]) {
        charts[kind] = echarts.init(element, dark ? "dark" : null, { renderer: "canvas" });
        charts[kind].on("finished", function () {
          finished[kind] = true;
          markDrawn();
        });
      }
      finished[kind] = false;
      charts[kind].setOption(builders[kind](series), true);
    });
  }

  function drawFigures(series) {
    var figures = series.figures;
    root.querySelectorAll("[data-figure]").forEach(function (element) {
      var metric = element.getAttribute("data-figure");
      var value = metric === "refunds" ? figures.refunds_wan : figures[metric];
      element.textContent = value === null || value === undefined ? "—" : String(value);
    });
  }

  // ---------------------------------------------------------------- the map

  var mapElement = root.querySelector("[data-map]");
  var mapStatus = root.querySelector("[data-map-status]");
  var map = null;
  var layer = null;

  function say(text) {
    if (mapStatus) {
      mapStatus.textContent = text;
    }
  }

  function popup(properties) {
    var box = document.createElement("div");
    box.className = "dash-popup";
    var title = document.createElement(properties.url ? "a" : "strong");
    title.textContent = properties.name;
    if (properties.url) {
      title.href = properties.url;
    }
    box.appendChild(title);
    var line = document.createElement("div");
    var facts = [properties.status_label];
    if (properties.kind === "institution") {
      facts.push(format(data.msgRisk, { risk: properties.risk }));
    }
    line.textContent = facts.join(" · ");
    box.appendChild(line);
    return box;
  }

  function marker(feature, latlng) {
    var properties = feature.properties;
    if (properties.kind === "lead") {
      return L.circleMarker(latlng, { radius: dark ? 9 : 7, className: "dash-lead" });
    }
    var classes = "dash-point dash-risk-" + properties.risk_band + " dash-status-" + properties.status;
    return L.circleMarker(latlng, { radius: dark ? 8 : 6, className: classes });
  }

  function drawMap(collection, fit) {
    if (layer) {
      layer.remove();
    }
    // Institutions first, so the open leads stay on top and take the clicks.
    var features = collection.features.slice().sort(function (a, b) {
      return (a.properties.kind === "lead") - (b.properties.kind === "lead");
    });
    layer = L.geoJSON(features, {
      pointToLayer: marker,
      onEachFeature: function (feature, item) {
        item.bindPopup(popup(feature.properties));
      },
    }).addTo(map);
    if (fit && layer.getLayers().length) {
      map.fitBounds(layer.getBounds(), { padding: [20, 20], maxZoom: 16 });
    }
    var counts = collection.counts || {};
    var message = format(data.msgMapSummary, {
      institutions: counts.institutions || 0,
      leads: counts.leads || 0,
    });
    if (!collection.features.length) {
      message = data.msgMapEmpty;
    } else if (collection.truncated) {
      message += " " + data.msgMapTruncated;
    }
    say(message);
    mapElement.setAttribute("data-markers", String(layer.getLayers().length));
  }

  function loadMap(fit) {
    if (!map) {
      return Promise.resolve();
    }
    return fetch(data.mapUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/geo+json" },
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (collection) {
        drawMap(collection, fit);
      })
      .catch(function () {
        say(data.msgMapError);
      });
  }

  if (mapElement && window.L) {
    map = L.map(mapElement, { attributionControl: Boolean(data.tileUrl), zoomSnap: 0.5 });
    if (data.tileUrl) {
      L.tileLayer(data.tileUrl, { attribution: data.tileAttribution || "", maxZoom: 19 }).addTo(map);
    }
    // Some view is needed before the data arrives: the whole of China, until we fit the data.
    map.setView([35, 105], 4);
  }

  // ---------------------------------------------------------------- refresh and clock

  var refreshes = 0;

  function refresh() {
    fetch(data.dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (series) {
        drawFigures(series);
        drawCharts(series);
        refreshes += 1;
        root.setAttribute("data-refreshes", String(refreshes));
        var stale = root.querySelector("[data-stale]");
        if (stale) {
          stale.hidden = true;
        }
        var updated = root.querySelector("[data-updated-at]");
        if (updated) {
          updated.textContent = new Date().toLocaleTimeString(document.documentElement.lang || undefined);
        }
        return loadMap(false);
      })
      .catch(function () {
        // Keep the last good picture on the screen and say how old it is.
        var stale = root.querySelector("[data-stale]");
        var updated = root.querySelector("[data-updated-at]");
        if (stale) {
          stale.textContent = format(data.msgStale, { time: updated ? updated.textContent : "" });
          stale.hidden = false;
        }
      });
  }

  function tick() {
    var clock = document.getElementById("big-clock");
    if (clock) {
      clock.textContent = new Date().toLocaleString(document.documentElement.lang || undefined, {
        timeZone: "Asia/Shanghai",
        hour12: false,
      });
    }
  }

  drawCharts(JSON.parse(document.getElementById("dashboard-series").textContent));
  loadMap(true);
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (name) {
      charts[name].resize();
    });
  });
  var seconds = parseInt(data.refreshSeconds || "0", 10);
  if (seconds > 0) {
    window.setInterval(refresh, seconds * 1000);
    tick();
    window.setInterval(tick, 1000);
  }
})();
