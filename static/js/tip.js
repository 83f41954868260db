// Public tip pages: the pin map (Leaflet, tiles only if configured), hiding the phone when the
// parent stays anonymous, the copy button, and one submit per form (a double tap sends once).
(function () {
  "use strict";

  function setupMap() {
    var el = document.getElementById("tip-map");
    if (!el || typeof L === "undefined") { return; }
    var lat = document.getElementById("id_latitude");
    var lng = document.getElementById("id_longitude");
    var map = L.map(el).setView([30.92, 113.92], 11);
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution || "" }).addTo(map);
    }
    var marker = null;
    function place(latlng) {
      if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng).addTo(map); }
      lat.value = latlng.lat.toFixed(6);
      lng.value = latlng.lng.toFixed(6);
    }
    if (lat.value && lng.value) { place(L.latLng(parseFloat(lat.value), parseFloat(lng.value))); }
    map.on("click", function (e) { place(e.latlng); });
  }

  function setupAnonymous() {
    var box = document.getElementById("id_is_anonymous");
    var phone = document.getElementById("tip-phone");
    if (!box || !phone) { return; }
    function sync() { phone.hidden = box.checked; }
    box.addEventListener("change", sync);
    sync();
  }

  function setupOnce() {
    var form = document.getElementById("tip-form");
    if (!form) { return; }
    form.addEventListener("submit", function (e) {
      if (form.dataset.sent) { e.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  }

  function setupCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (navigator.clipboard) { navigator.clipboard.writeText(button.dataset.copy); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupMap(); setupAnonymous(); setupOnce(); setupCopy();
  });
})();
