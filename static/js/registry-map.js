/* The registry map: institutions as circle markers, community outlines as polygons.
 *
 * Everything it needs comes from data attributes on #registry-map (the data URL, the optional tile
 * URL, translated messages), so the page has no inline script. Without a tile URL nothing is
 * requested from outside the site: outlines and points draw on the container's plain background.
 * Colours are CSS classes (static/css/registry-map.css), shared with the legend.
 */
(function () {
  "use strict";

  var element = document.getElementById("registry-map");
  var status = document.getElementById("registry-map-status");
  if (!element || !window.L) {
    return;
  }
  var data = element.dataset;
  var touch = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  var map = L.map(element, {
    attributionControl: Boolean(data.tileUrl),
    zoomSnap: 0.5,
    tapTolerance: 20,
  });
  if (data.tileUrl) {
    L.tileLayer(data.tileUrl, { attribution: data.tileAttribution || "", maxZoom: 19 }).addTo(map);
  }
  // Some view is needed before the data arrives; the whole of China, until we fit the data.
  map.setView([35, 105], 4);

  function popup(properties) {
    var box = document.createElement("div");
    box.className = "map-popup";
    var title = document.createElement(properties.url ? "a" : "strong");
    title.textContent = properties.name;
    if (properties.url) {
      title.href = properties.url;
    }
    box.appendChild(title);
    var facts = [properties.status_label, properties.category_label];
    if (properties.blacklisted) {
      facts.push(data.msgBlacklisted);
    }
    var line = document.createElement("div");
    line.textContent = facts.join(" · ");
    box.appendChild(line);
    return box;
  }

  function point(feature, latlng) {
    var properties = feature.properties;
    var classes = "map-point map-status-" + properties.status;
    if (properties.blacklisted) {
      classes += " map-blacklisted";
    }
    return L.circleMarker(latlng, { radius: touch ? 9 : 7, className: classes });
  }

  function draw(collection) {
    var outlines = [];
    var institutions = [];
    collection.features.forEach(function (feature) {
      (feature.properties.kind === "community" ? outlines : institutions).push(feature);
    });
    // Outlines first and not interactive, so points stay on top and take every tap.
    var outlineLayer = L.geoJSON(outlines, {
      interactive: false,
      style: function () {
        return { className: "map-outline" };
      },
    }).addTo(map);
    var pointLayer = L.geoJSON(institutions, {
      pointToLayer: point,
      onEachFeature: function (feature, layer) {
        layer.bindPopup(popup(feature.properties));
      },
    }).addTo(map);
    var bounds = outlineLayer.getBounds();
    if (pointLayer.getLayers().length) {
      bounds = bounds.isValid() ? bounds.extend(pointLayer.getBounds()) : pointLayer.getBounds();
    }
    if (bounds.isValid()) {
      map.fitBounds(bounds, { padding: [20, 20], maxZoom: 17 });
    }
    var counts = collection.counts || {};
    var message = format(data.msgSummary, {
      points: counts.points || 0,
      missing: counts.without_position || 0,
    });
    if (!collection.features.length) {
      message = data.msgEmpty;
    } else if (collection.truncated) {
      message += " " + data.msgTruncated;
    }
    say(message);
    element.setAttribute("data-drawn", String(institutions.length));
  }

  fetch(data.url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      return response.json();
    })
    .then(draw)
    .catch(function () {
      say(data.msgError);
    });
})();
