/*
 * The inspector's checklist page, made for a phone with a poor connection. Without this script the
 * page is a plain form the server checks in full; with it:
 *  - the visit keeps one client_id (made once, kept in localStorage per task item), so a reload or
 *    a second tap continues the same inspection;
 *  - answers are kept in localStorage at once and autosaved to the server (debounced);
 *  - photos are scaled down on the phone (longest side 1600 px, JPEG 0.85) and uploaded one by one
 *    with the file's time as captured_hint (the canvas drops EXIF);
 *  - the position is asked with high accuracy and shown as "±N m", with a warning when it is far
 *    from the registered address;
 *  - skip logic and "evidence needed" follow the answers live (BihuanChecklist, checklist.js);
 *  - each submit attempt carries a submission_id kept until the server answers, so a retry after
 *    a lost answer reuses it and the server returns the version it already made.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var DRAFT_DELAY_MS = 2000;
  var PHOTO_SIDE = 1600;
  var PHOTO_QUALITY = 0.85;

  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context; getRandomValues does not (plain http on a LAN).
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) +
      "-" + h.slice(20);
  }

  function readJson(id, fallback) {
    var el = document.getElementById(id);
    if (!el) return fallback;
    try {
      return JSON.parse(el.textContent);
    } catch (e) {
      return fallback;
    }
  }

  function load(key) {
    try {
      return JSON.parse(window.localStorage.getItem(key) || "null");
    } catch (e) {
      return null;
    }
  }

  function store(key, value) {
    try {
      if (value === null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      /* storage full or disabled: the server draft still keeps the answers */
    }
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, body, form) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) }
    }).then(function (response) {
      return response.json().catch(function () {
        return { ok: false, error: String(response.status) };
      }).then(function (data) {
        data.status = response.status;
        return data;
      });
    });
  }

  function metres(lat1, lng1, lat2, lng2) {
    var r = 6371008.8;
    var p1 = (lat1 * Math.PI) / 180;
    var p2 = (lat2 * Math.PI) / 180;
    var dp = p2 - p1;
    var dl = ((lng2 - lng1) * Math.PI) / 180;
    var a = Math.sin(dp / 2) * Math.sin(dp / 2) +
      Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) * Math.sin(dl / 2);
    return 2 * r * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  function locate(onFound, onFail) {
    if (!navigator.geolocation) {
      onFail();
      return;
    }
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        onFound(pos.coords.latitude, pos.coords.longitude, pos.coords.accuracy);
      },
      onFail,
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 }
    );
  }

  function setPosition(form, lat, lng, accuracy) {
    form.elements.latitude.value = lat.toFixed(6);
    form.elements.longitude.value = lng.toFixed(6);
    form.elements.accuracy.value = Math.round(accuracy);
  }

  function showPosition(form, messages) {
    var status = document.getElementById("position-status");
    var lat = parseFloat(form.elements.latitude.value);
    var lng = parseFloat(form.elements.longitude.value);
    if (!status || isNaN(lat) || isNaN(lng)) return;
    var accuracy = form.elements.accuracy.value;
    var text = lat.toFixed(6) + ", " + lng.toFixed(6) + (accuracy ? " ±" + accuracy + " m" : "");
    var far = document.getElementById("position-far");
    var homeLat = parseFloat(form.dataset.homeLat);
    var homeLng = parseFloat(form.dataset.homeLng);
    var limit = parseFloat(form.dataset.farMetres || "300");
    if (!isNaN(homeLat) && !isNaN(homeLng)) {
      var d = Math.round(metres(lat, lng, homeLat, homeLng));
      text += " · " + String(messages.far || "%(m)s m").replace("%(m)s", String(d));
      if (far) far.hidden = !(d > limit || Number(accuracy) > limit);
    }
    status.textContent = text;
  }

  function bindLocate(form, messages, onChange) {
    var button = document.getElementById("locate");
    if (!button) return;
    var status = document.getElementById("position-status");
    function ask() {
      if (status) status.textContent = messages.locating || "…";
      locate(
        function (lat, lng, accuracy) {
          setPosition(form, lat, lng, accuracy);
          showPosition(form, messages);
          if (onChange) onChange();
        },
        function () {
          if (status) status.textContent = messages.no_position || "";
        }
      );
    }
    button.addEventListener("click", ask);
    return ask;
  }

  // ------------------------------------------------------------------------ the field-find form

  function fieldFind(form) {
    var messages = readJson("inspect-messages", {});
    var ask = bindLocate(form, messages, null);
    if (ask && !form.elements.latitude.value) ask();
    form.addEventListener("submit", function () {
      // The client_id in the page makes a second tap or a resend report it once.
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
    });
  }

  // ------------------------------------------------------------------------ the checklist form

  function checklistPage(form) {
    var urls = readJson("inspect-urls", {});
    var definition = readJson("checklist-definition", { questions: [] });
    var messages = readJson("inspect-messages", {});
    var key = form.dataset.storeKey;
    var state = load(key) || {};
    var status = document.getElementById("autosave-status");
    var submitButton = document.getElementById("submit-button");
    var started = urls.draft ? Promise.resolve(urls) : null;
    var pendingUploads = [];
    var draftTimer = null;
    var questions = {};
    (definition.questions || []).forEach(function (q) {
      questions[q.name] = q;
    });

    function say(text) {
      if (status) status.textContent = text || "";
    }

    // A reload of a visit not yet started continues the one this phone began.
    if (form.dataset.status === "new" && state.client_id) {
      form.elements.client_id.value = state.client_id;
    } else if (state.client_id && state.client_id !== form.elements.client_id.value) {
      state = {};
    }
    state.client_id = form.elements.client_id.value;
    if (state.submission_id) form.elements.submission_id.value = state.submission_id;

    function fields() {
      var pairs = [];
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.type === "file" || el.name === "csrfmiddlewaretoken") return;
        if (el.name === "submission_id" || el.type === "submit" || el.type === "button") return;
        if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
        pairs.push([el.name, el.value]);
      });
      return pairs;
    }

    function restore(pairs) {
      var byName = {};
      pairs.forEach(function (p) {
        (byName[p[0]] = byName[p[0]] || []).push(p[1]);
      });
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.type === "file" || !(el.name in byName)) return;
        if (el.name === "client_id" || el.name === "csrfmiddlewaretoken") return;
        if (el.name === "co_inspectors") return; // the server's list is the truth
        if (el.type === "radio" || el.type === "checkbox") {
          el.checked = byName[el.name].indexOf(el.value) !== -1;
        } else {
          el.value = byName[el.name][0];
        }
      });
    }

    // Answers typed while the server could not be told are put back from the phone.
    if (state.dirty && state.fields) restore(state.fields);

    function keepLocal(dirty) {
      state.fields = fields();
      state.dirty = dirty;
      state.saved = Date.now();
      store(key, state);
    }

    function answers() {
      var values = {};
      var notes = {};
      var data = new FormData(form);
      (definition.questions || []).forEach(function (q) {
        var note = (data.get("note-" + q.name) || "").trim();
        if (note) notes[q.name] = note;
        if (q.type === "photo" || q.type === "note") return;
        if (q.type === "select_multiple") {
          var chosen = data.getAll("q-" + q.name).filter(Boolean);
          if (chosen.length) values[q.name] = chosen;
        } else if (q.type === "location") {
          var lat = data.get("q-" + q.name + "-lat");
          var lng = data.get("q-" + q.name + "-lng");
          if (lat && lng) {
            values[q.name] = {
              lat: lat, lng: lng, accuracy: data.get("q-" + q.name + "-accuracy")
            };
          }
        } else {
          var v = data.get("q-" + q.name);
          if (v !== null && v !== "") values[q.name] = v;
        }
      });
      return { values: values, notes: notes };
    }

    function photoCounts() {
      var counts = {};
      Array.prototype.forEach.call(form.querySelectorAll("[data-thumbs]"), function (box) {
        counts[box.dataset.thumbs] = box.querySelectorAll("figure.thumb:not(.failed)").length;
      });
      return counts;
    }

    function refresh(showErrors) {
      if (!window.BihuanChecklist) return null;
      var a = answers();
      var lang = document.documentElement.lang || "en";
      var result = window.BihuanChecklist.evaluate(
        definition, a.values, a.notes, photoCounts(), { lang: lang }
      );
      var flagged = {};
      result.flags.forEach(function (f) {
        flagged[f.question] = true;
      });
      var outcome = form.querySelector("input[name=outcome]:checked");
      var visited = !outcome || outcome.value === "visited";
      var checklist = document.getElementById("checklist");
      if (checklist) checklist.hidden = !visited;
      Array.prototype.forEach.call(form.querySelectorAll("[data-question]"), function (box) {
        var name = box.dataset.question;
        box.hidden = !result.relevant.has(name);
        box.classList.toggle("flagged", !!flagged[name]);
        var error = box.querySelector("[data-error-for]");
        if (error && showErrors) error.textContent = result.errors[name] || "";
      });
      return result;
    }

    function ensureStarted() {
      if (started) return started;
      if (!urls.start) return Promise.reject(new Error("no start url"));
      var body = new FormData();
      body.append("action", "start");
      body.append("client_id", form.elements.client_id.value);
      started = post(urls.start, body, form).then(function (data) {
        if (!data.ok) {
          started = null;
          throw new Error(data.error || "start");
        }
        urls = data.urls;
        form.action = urls.submit;
        // Another phone may have started this visit first: its client_id is the one to use.
        form.elements.client_id.value = data.client_id;
        state.client_id = data.client_id;
        return urls;
      }, function (err) {
        started = null;
        throw err;
      });
      return started;
    }

    function saveDraft() {
      draftTimer = null;
      ensureStarted().then(function () {
        var body = new FormData();
        fields().forEach(function (p) {
          body.append(p[0], p[1]);
        });
        return post(urls.draft, body, form);
      }).then(function (data) {
        if (data.ok) {
          keepLocal(false);
          say((messages.saved || "") + " " + data.saved_at);
        } else {
          say(data.error || messages.offline);
        }
      }).catch(function () {
        say(messages.offline);
      });
    }

    function changed() {
      if (!form.elements.visited_at.value) form.elements.visited_at.value = new Date().toISOString();
      keepLocal(true);
      say(messages.saved_local);
      refresh(false);
      if (draftTimer) clearTimeout(draftTimer);
      draftTimer = setTimeout(saveDraft, DRAFT_DELAY_MS);
    }

    form.addEventListener("input", function (event) {
      if (event.target.type !== "file") changed();
    });
    form.addEventListener("change", function (event) {
      var el = event.target;
      if (el.type === "file") {
        addPhotos(el);
      } else if (el.name === "co_inspectors") {
        toggleParticipant(el);
      }
    });

    // -------------------------------------------------------------------- photos

    function scaled(file) {
      return new Promise(function (resolve, reject) {
        var img = new Image();
        var url = URL.createObjectURL(file);
        img.onload = function () {
          var side = Math.max(img.naturalWidth, img.naturalHeight);
          var ratio = side > PHOTO_SIDE ? PHOTO_SIDE / side : 1;
          var canvas = document.createElement("canvas");
          canvas.width = Math.round(img.naturalWidth * ratio);
          canvas.height = Math.round(img.naturalHeight * ratio);
          // Browsers draw <img> upright (EXIF orientation applied), so the pixels come out upright.
          canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
          URL.revokeObjectURL(url);
          canvas.toBlob(function (blob) {
            if (blob) resolve(blob);
            else reject(new Error("toBlob"));
          }, "image/jpeg", PHOTO_QUALITY);
        };
        img.onerror = function () {
          URL.revokeObjectURL(url);
          reject(new Error("decode"));
        };
        img.src = url;
      });
    }

    function thumb(box, src) {
      var figure = document.createElement("figure");
      figure.className = "thumb pending";
      var img = document.createElement("img");
      img.width = 96;
      img.height = 96;
      img.alt = "";
      img.src = src;
      figure.appendChild(img);
      box.appendChild(figure);
      return figure;
    }

    function uploaded(figure, data) {
      figure.className = "thumb";
      figure.querySelector("img").src = data.thumbnail;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link danger";
      remove.textContent = messages.remove || "×";
      remove.addEventListener("click", function () {
        post(data.remove, new FormData(), form).then(function (answer) {
          if (answer.ok) {
            figure.remove();
            refresh(false);
          }
        });
      });
      figure.appendChild(remove);
    }

    function upload(job) {
      return ensureStarted().then(function () {
        var body = new FormData();
        body.append("client_id", job.clientId);
        body.append("question", job.question);
        body.append("captured_hint", String(job.hint || ""));
        body.append("photo", job.blob, "photo.jpg");
        return post(urls.photo, body, form);
      }).then(function (data) {
        if (!data.ok) throw new Error(data.error || messages.upload_failed);
        uploaded(job.figure, data);
        job.done = true;
        refresh(false);
      }).catch(function (err) {
        job.figure.classList.add("failed");
        say((err && err.message) || messages.upload_failed);
        throw err;
      });
    }

    function addPhotos(input) {
      var question = input.dataset.photoFor || "";
      var box = form.querySelector('[data-thumbs="' + question + '"]');
      Array.prototype.forEach.call(input.files, function (file) {
        var figure = thumb(box, URL.createObjectURL(file));
        say(messages.uploading);
        var job = { clientId: uuid4(), question: question, hint: file.lastModified, figure: figure };
        job.promise = scaled(file).then(function (blob) {
          job.blob = blob;
          return upload(job);
        });
        job.promise.catch(function () {});
        pendingUploads.push(job);
      });
      // The photos went (or are going) on their own: the form must not send them again.
      input.value = "";
      refresh(false);
    }

    function retryUploads() {
      return Promise.all(pendingUploads.map(function (job) {
        if (job.done) return null;
        if (!job.blob) return job.promise;
        job.figure.classList.remove("failed");
        job.promise = upload(job);
        return job.promise;
      }));
    }

    window.addEventListener("online", function () {
      retryUploads().catch(function () {});
    });

    // Remove buttons of photos already on the page: without the script they post the form.
    Array.prototype.forEach.call(form.querySelectorAll("figure.thumb button[formaction]"), function (b) {
      b.addEventListener("click", function (event) {
        event.preventDefault();
        post(b.getAttribute("formaction"), new FormData(), form).then(function (answer) {
          if (answer.ok) {
            b.closest("figure").remove();
            refresh(false);
          }
        });
      });
    });

    // -------------------------------------------------------------------- co-inspectors

    function toggleParticipant(box) {
      ensureStarted().then(function () {
        var body = new FormData();
        body.append("user", box.value);
        body.append("action", box.checked ? "add" : "remove");
        return post(urls.participants, body, form);
      }).then(function (data) {
        if (!data.ok) {
          box.checked = !box.checked;
          say(data.error);
        }
      }).catch(function () {
        say(messages.offline);
      });
    }

    // -------------------------------------------------------------------- position

    var ask = bindLocate(form, messages, changed);
    Array.prototype.forEach.call(form.querySelectorAll("[data-locate]"), function (button) {
      button.addEventListener("click", function () {
        var name = button.dataset.locate;
        var shown = form.querySelector('[data-located="' + name + '"]');
        if (shown) shown.textContent = messages.locating;
        locate(function (lat, lng, accuracy) {
          form.elements["q-" + name + "-lat"].value = lat.toFixed(6);
          form.elements["q-" + name + "-lng"].value = lng.toFixed(6);
          form.elements["q-" + name + "-accuracy"].value = Math.round(accuracy);
          if (shown) shown.textContent = lat.toFixed(6) + ", " + lng.toFixed(6) + " ±" + Math.round(accuracy) + " m";
          changed();
        }, function () {
          if (shown) shown.textContent = messages.no_position;
        });
      });
    });
    showPosition(form, messages);
    if (ask && !form.elements.latitude.value) ask();

    // -------------------------------------------------------------------- submitting

    function showErrors(errors) {
      Array.prototype.forEach.call(form.querySelectorAll("[data-error-for]"), function (el) {
        el.textContent = (errors && errors[el.dataset.errorFor]) || "";
        el.closest(".q").classList.toggle("has-error", !!el.textContent);
      });
      var first = form.querySelector(".q.has-error");
      if (first) first.scrollIntoView({ behavior: "smooth", block: "center" });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (submitButton.disabled) return;
      submitButton.disabled = true;
      if (draftTimer) clearTimeout(draftTimer);
      // One id per attempt, kept until the server answers: a retry is the same attempt.
      if (!state.submission_id) state.submission_id = uuid4();
      form.elements.submission_id.value = state.submission_id;
      keepLocal(true);
      say(messages.sending);
      ensureStarted().then(retryUploads).then(function () {
        var body = new FormData();
        fields().forEach(function (p) {
          body.append(p[0], p[1]);
        });
        body.append("submission_id", state.submission_id);
        return post(urls.submit, body, form);
      }).then(function (data) {
        if (data.ok) {
          store(key, null);
          window.location.assign(data.redirect);
          return;
        }
        // The server answered: the next attempt is a new one.
        delete state.submission_id;
        keepLocal(true);
        say(data.error);
        showErrors(data.errors || {});
        submitButton.disabled = false;
      }).catch(function () {
        say(messages.retry);
        submitButton.disabled = false;
      });
    });

    refresh(false);
  }

  function start() {
    var form = document.getElementById("inspect-form");
    if (form) checklistPage(form);
    var find = document.getElementById("field-find-form");
    if (find) fieldFind(find);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
