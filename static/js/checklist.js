/*
 * Checklist logic on the phone: skip logic, required answers, constraints, flags and the evidence
 * a flagged answer needs. It evaluates the same compiled expressions (relevant_ast,
 * constraint_ast, flag_ast) as bihuan/screening/checklists.py, by the same rules, so the form can
 * show and hide questions live; the server evaluates again on submission and has the last word.
 *
 *   BihuanChecklist.evaluate(definition, values, notes, photoCounts, options)
 *     -> {relevant: Set, flags: [{question, label, answer, violation_types, note, evidence}],
 *         errors: {name: message}, cleanValues: {name: value}}
 *   options: {lang: "en" | "zh-hans", messages: {...}}; by default the page's <html lang> and the
 *   messages embedded as <script id="bihuan-checklist-messages"> (checklists.js_messages()),
 *   else English.
 *
 * Rules (shared with Python): unanswered or hidden → ""; two numbers (or numeric strings) compare
 * as numbers; "<" and friends with a blank side are false; "=" otherwise compares text.
 */
(function (root) {
  "use strict";

  var NUMBER_RE = /^-?(?:\d+\.?\d*|\.\d+)$/;
  var INTEGER_RE = /^-?\d+$/;
  var CHOICE_TYPES = { yes_no_na: 1, select_one: 1, select_multiple: 1 };
  var VALUELESS = { photo: 1, note: 1 };

  // Messages in English; the page passes translated ones in options.messages.
  var MESSAGES = {
    required: "This question needs an answer.",
    photo_required: "This question needs a photo.",
    integer: "Enter a whole number.",
    decimal: "Enter a number.",
    choice: "Choose one of the listed answers.",
    choices: "Choose among the listed answers.",
    text: "Enter text.",
    location: "The location could not be read.",
    constraint: "The answer is outside the allowed values.",
    evidence_photo: "This answer is flagged: take a photo as evidence.",
    evidence_note: "This answer is flagged: write a note as evidence.",
    evidence_photo_or_note: "This answer is flagged: take a photo or write a note as evidence.",
    evidence_photo_and_note: "This answer is flagged: take a photo and write a note as evidence."
  };

  function Invalid(key) {
    this.key = key;
  }

  function isBlank(v) {
    return v === null || v === undefined || v === "";
  }

  function toNumber(v) {
    if (typeof v === "boolean") return v ? 1 : 0;
    if (typeof v === "number") return isFinite(v) ? v : null;
    if (typeof v === "string" && NUMBER_RE.test(v.trim())) return parseFloat(v.trim());
    return null;
  }

  function truthy(v) {
    if (typeof v === "boolean") return v;
    if (typeof v === "number") return v !== 0;
    return !isBlank(v);
  }

  function text(v) {
    if (v === null || v === undefined) return "";
    return String(v);
  }

  function compare(op, left, right) {
    var a = toNumber(left);
    var b = toNumber(right);
    var both = a !== null && b !== null;
    if (op === "=" || op === "!=") {
      var equal = both ? a === b : text(left) === text(right);
      return op === "=" ? equal : !equal;
    }
    if (isBlank(left) || isBlank(right)) return false;
    var l = both ? a : text(left);
    var r = both ? b : text(right);
    if (op === "<") return l < r;
    if (op === "<=") return l <= r;
    if (op === ">") return l > r;
    return l >= r;
  }

  function words(v) {
    var s = text(v).trim();
    return s ? s.split(/\s+/) : [];
  }

  function evalExpr(ast, lookup, selfValue) {
    if (selfValue === undefined || selfValue === null) selfValue = "";
    var op = ast[0];
    var i;
    switch (op) {
      case "lit":
        return ast[1];
      case "ref":
        var v = lookup(ast[1]);
        return v === null || v === undefined ? "" : v;
      case "self":
        return selfValue;
      case "and":
        for (i = 1; i < ast.length; i++) if (!truthy(evalExpr(ast[i], lookup, selfValue))) return false;
        return true;
      case "or":
        for (i = 1; i < ast.length; i++) if (truthy(evalExpr(ast[i], lookup, selfValue))) return true;
        return false;
      case "not":
        return !truthy(evalExpr(ast[1], lookup, selfValue));
      case "=":
      case "!=":
      case "<":
      case "<=":
      case ">":
      case ">=":
        return compare(op, evalExpr(ast[1], lookup, selfValue), evalExpr(ast[2], lookup, selfValue));
      case "selected":
        return words(evalExpr(ast[1], lookup, selfValue)).indexOf(String(ast[2])) >= 0;
      case "count-selected":
        return words(evalExpr(ast[1], lookup, selfValue)).length;
      default:
        throw new Error("unknown operator " + op);
    }
  }

  function refs(ast, out) {
    out = out || [];
    if (!Array.isArray(ast) || !ast.length) return out;
    if (ast[0] === "ref") {
      out.push(ast[1]);
      return out;
    }
    for (var i = 1; i < ast.length; i++) refs(ast[i], out);
    return out;
  }

  function choiceNames(q) {
    return (q.choices || []).map(function (c) {
      return c.name;
    });
  }

  function coerce(q, value) {
    var t = q.type;
    if (VALUELESS[t]) return null;
    if (value === null || value === undefined) return null;
    if (typeof value === "string" && !value.trim()) return null;
    if (t === "integer") {
      if (typeof value === "number" && Number.isInteger(value)) return value;
      if (typeof value === "string" && INTEGER_RE.test(value.trim())) return parseInt(value.trim(), 10);
      throw new Invalid("integer");
    }
    if (t === "decimal") {
      if (typeof value === "number" && isFinite(value)) return value;
      if (typeof value === "string" && NUMBER_RE.test(value.trim())) return parseFloat(value.trim());
      throw new Invalid("decimal");
    }
    if (t === "yes_no_na" || t === "select_one") {
      if (typeof value !== "string" || choiceNames(q).indexOf(value.trim()) < 0) throw new Invalid("choice");
      return value.trim();
    }
    if (t === "select_multiple") {
      var items = typeof value === "string" ? words(value) : value;
      if (!Array.isArray(items)) throw new Invalid("choices");
      var names = choiceNames(q);
      var chosen = {};
      for (var i = 0; i < items.length; i++) {
        if (typeof items[i] !== "string") throw new Invalid("choices");
        var item = items[i].trim();
        if (!item) continue;
        if (names.indexOf(item) < 0) throw new Invalid("choices");
        chosen[item] = true;
      }
      var ordered = names.filter(function (n) {
        return chosen[n];
      });
      return ordered.length ? ordered : null;
    }
    if (t === "text") {
      if (typeof value !== "string" && typeof value !== "number") throw new Invalid("text");
      var s = String(value).trim().slice(0, 2000);
      return s || null;
    }
    if (t === "location") {
      if (typeof value !== "object" || Array.isArray(value)) throw new Invalid("location");
      var lat = toNumber(value.lat);
      var lng = toNumber(value.lng);
      if (lat === null || lng === null || lat < -90 || lat > 90 || lng < -180 || lng > 180) {
        throw new Invalid("location");
      }
      if (lat === 0 && lng === 0) throw new Invalid("location");
      var acc = value.accuracy === null || value.accuracy === undefined ? 0 : toNumber(value.accuracy);
      return { lat: lat, lng: lng, accuracy: acc || 0 };
    }
    throw new Invalid("text");
  }

  function exprValue(clean) {
    if (clean === null || clean === undefined) return "";
    if (Array.isArray(clean)) return clean.join(" ");
    if (typeof clean === "object") return text(clean.lat) + " " + text(clean.lng);
    return clean;
  }

  function pick(obj, key, english) {
    if (english && obj[key + "_en"]) return String(obj[key + "_en"]);
    return String(obj[key] || obj[key + "_en"] || "");
  }

  function relevanceOrder(questions) {
    var byName = {};
    questions.forEach(function (q) {
      byName[q.name] = q;
    });
    var done = {};
    var order = [];
    function visit(q, trail) {
      if (done[q.name] || trail[q.name]) return;
      var next = Object.assign({}, trail);
      next[q.name] = true;
      refs(q.relevant_ast).slice().sort().forEach(function (r) {
        if (byName[r]) visit(byName[r], next);
      });
      done[q.name] = true;
      order.push(q);
    }
    questions.forEach(function (q) {
      visit(q, {});
    });
    return order;
  }

  function evidenceMissing(rule, hasPhoto, hasNote) {
    if (rule === "photo" && !hasPhoto) return "evidence_photo";
    if (rule === "note" && !hasNote) return "evidence_note";
    if (rule === "photo_or_note" && !(hasPhoto || hasNote)) return "evidence_photo_or_note";
    if (rule === "photo_and_note" && !(hasPhoto && hasNote)) return "evidence_photo_and_note";
    return null;
  }

  // Translated messages a page may embed with json_script (checklists.js_messages()).
  function pageMessages() {
    var doc = root.document;
    var el = doc && doc.getElementById && doc.getElementById("bihuan-checklist-messages");
    if (!el) return {};
    try {
      return JSON.parse(el.textContent);
    } catch (e) {
      return {};
    }
  }

  function evaluate(definition, values, notes, photoCounts, options) {
    values = values || {};
    notes = notes || {};
    photoCounts = photoCounts || {};
    options = options || {};
    var lang = options.lang;
    if (!lang && root.document && root.document.documentElement) lang = root.document.documentElement.lang;
    var english = String(lang || "").toLowerCase().indexOf("en") === 0;
    var messages = Object.assign({}, MESSAGES, options.messages || pageMessages());
    var questions = (definition && definition.questions) || [];
    var relevant = new Set();
    var errors = {};
    var flags = [];
    var cleanValues = {};
    var clean = {};
    var invalid = {};
    var byName = {};

    questions.forEach(function (q) {
      byName[q.name] = q;
      try {
        clean[q.name] = coerce(q, values[q.name]);
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        clean[q.name] = null;
        invalid[q.name] = messages[e.key];
      }
    });

    function lookup(name) {
      // A hidden question reads as unanswered, whatever was typed before it was hidden.
      if (!relevant.has(name) || !byName[name]) return "";
      return exprValue(clean[name]);
    }

    relevanceOrder(questions).forEach(function (q) {
      if (q.relevant_ast === null || q.relevant_ast === undefined || truthy(evalExpr(q.relevant_ast, lookup))) {
        relevant.add(q.name);
      }
    });

    questions.forEach(function (q) {
      var name = q.name;
      if (!relevant.has(name) || q.type === "note") return;
      if (invalid[name]) {
        errors[name] = invalid[name];
        return;
      }
      var value = clean[name];
      var hasPhoto = Number(photoCounts[name] || 0) > 0;
      var note = String(notes[name] || "").trim();
      if (q.type === "photo") {
        if (q.required && !hasPhoto) errors[name] = messages.photo_required;
        return;
      }
      if (value === null) {
        if (q.required) errors[name] = messages.required;
        return;
      }
      cleanValues[name] = value;
      var selfValue = exprValue(value);
      if (q.constraint_ast && !truthy(evalExpr(q.constraint_ast, lookup, selfValue))) {
        errors[name] = pick(q, "constraint_message", english) || messages.constraint;
        return;
      }
      var chosen = Array.isArray(value) ? value : [value];
      var flagged = (q.choices || []).some(function (c) {
        return c.flag && chosen.indexOf(c.name) >= 0;
      });
      if (!flagged && q.flag_ast) flagged = truthy(evalExpr(q.flag_ast, lookup, selfValue));
      if (!flagged) return;
      var answer;
      if (CHOICE_TYPES[q.type]) {
        answer = (q.choices || [])
          .filter(function (c) {
            return chosen.indexOf(c.name) >= 0;
          })
          .map(function (c) {
            return pick(c, "label", english) || c.name;
          })
          .join(english ? ", " : "、");
      } else {
        answer = text(value);
      }
      var rule = q.evidence || "none";
      flags.push({
        question: name,
        label: pick(q, "label", english) || name,
        answer: answer,
        violation_types: (q.violation_types || []).slice(),
        note: note,
        evidence: rule
      });
      var missing = evidenceMissing(rule, hasPhoto, !!note);
      if (missing) errors[name] = messages[missing];
    });

    return { relevant: relevant, flags: flags, errors: errors, cleanValues: cleanValues };
  }

  var api = { evaluate: evaluate, evalExpr: evalExpr, refs: refs, MESSAGES: MESSAGES };
  root.BihuanChecklist = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);
