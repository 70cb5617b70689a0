/* ifir-bench leaderboard: table sorting, significance picker and per-query view. No network, no libraries. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("lb-data").textContent);

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* ---- sorting ------------------------------------------------------------------------ */
  function cellKey(row, index, kind) {
    var cell = row.children[index];
    var raw = cell ? (cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim()) : "";
    if (kind === "num") { return raw === "" ? null : parseFloat(raw); }
    return raw;
  }

  function columnIndex(th) {
    // A header names the body cell it sorts (data-index) when the header has several rows;
    // otherwise it is its own position in the row.
    if (th.hasAttribute("data-index")) { return parseInt(th.getAttribute("data-index"), 10); }
    return Array.prototype.indexOf.call(th.parentElement.children, th);
  }

  function sortTable(th) {
    var table = th.closest("table"), kind = th.getAttribute("data-sort");
    var index = columnIndex(th);
    var current = th.getAttribute("aria-sort");
    var dir = current === "descending" ? "ascending" : current === "ascending" ? "descending" : (kind === "num" ? "descending" : "ascending");
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (r, i) { return { row: r, key: cellKey(r, index, kind), i: i }; });
    rows.sort(function (a, b) {
      if (a.key === null && b.key === null) return a.i - b.i;
      if (a.key === null) return 1;  // empty cells last in either direction
      if (b.key === null) return -1;
      var c = kind === "num" ? a.key - b.key : String(a.key).localeCompare(String(b.key));
      if (c === 0) return a.i - b.i;
      return dir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }

  function makeSortable(table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortTable(th); });
    });
  }
  document.querySelectorAll("table.sortable").forEach(makeSortable);

  /* ---- shared pickers ----------------------------------------------------------------- */
  function fill(select, options, selected) {
    select.innerHTML = "";
    options.forEach(function (o) {
      var opt = el("option", o.title ? { value: o.value, title: o.title } : { value: o.value }, o.label);
      if (String(o.value) === String(selected)) opt.selected = true;
      select.appendChild(opt);
    });
  }
  var taskNames = DATA.tasks;
  // Short labels keep a closed drop-down readable on a phone; the full label is the option's title
  // and is spelled out in the result below the pickers.
  var modelOptions = DATA.models.map(function (m, i) { return { value: i, label: (i + 1) + ". " + m.short, title: m.label }; });

  function fmtDiff(d, pmrr) { var v = pmrr ? 100 * d : d; return (v >= 0 ? "+" : "") + v.toFixed(pmrr ? 2 : 4); }
  function fmtVal(v, pmrr) { return pmrr ? (v >= 0 ? "+" : "") + (100 * v).toFixed(2) : v.toFixed(4); }
  function fmtP(p) { return p < 1e-4 ? "<0.0001" : p.toFixed(4); }

  function lookup(key, a, b) {
    if (a === b) return null;
    var i = Math.min(a, b), j = Math.max(a, b), t = DATA.tests[key + "|" + i + "|" + j];
    if (!t) return null;
    var sign = a < b ? 1 : -1;
    return { n: t[0], diff: sign * t[1], p: t[2], meanA: a < b ? t[3] : t[4], meanB: a < b ? t[4] : t[3] };
  }

  function wire(prefix, onChange, defaults) {
    var task = document.getElementById(prefix + "-task"), measure = document.getElementById(prefix + "-measure");
    var a = document.getElementById(prefix + "-a"), b = document.getElementById(prefix + "-b");
    fill(task, taskNames.map(function (t) { return { value: t, label: t }; }), DATA.task || taskNames[0]);
    function fillMeasures() { fill(measure, DATA.measures[task.value].map(function (m) { return { value: m.key, label: m.label }; })); }
    fillMeasures();
    fill(a, modelOptions, defaults[0]);
    fill(b, modelOptions, defaults[1]);
    function state() {
      var m = DATA.measures[task.value].filter(function (x) { return x.key === measure.value; })[0];
      return { task: task.value, key: measure.value, pmrr: m.pmrr, label: m.label, a: parseInt(a.value, 10), b: parseInt(b.value, 10) };
    }
    task.addEventListener("change", function () { fillMeasures(); onChange(state()); });
    [measure, a, b].forEach(function (s) { s.addEventListener("change", function () { onChange(state()); }); });
    onChange(state());
  }

  var baseline = DATA.baseline, other = DATA.modelA;

  /* ---- significance --------------------------------------------------------------------- */
  function showSignificance(s) {
    var out = document.getElementById("sig-result"), all = document.getElementById("sig-all");
    out.innerHTML = ""; all.innerHTML = "";
    var t = lookup(s.key, s.a, s.b);
    if (s.a === s.b) { out.appendChild(el("p", { "class": "hint" }, "Pick two different models.")); }
    else if (!t) { out.appendChild(el("p", { "class": "hint" }, "These two models share no scored query on this task and measure.")); }
    else {
      var sig = t.p < DATA.alpha;
      var box = el("div", { "class": "sig-box " + (sig ? "sig" : "nosig") });
      box.appendChild(el("div", { "class": "big" }, fmtDiff(t.diff, s.pmrr)));
      box.appendChild(el("div", {}, s.task + " " + s.label + ": " + (s.a + 1) + ". " + DATA.models[s.a].label + " (" + fmtVal(t.meanA, s.pmrr) + ") minus " +
        (s.b + 1) + ". " + DATA.models[s.b].label + " (" + fmtVal(t.meanB, s.pmrr) + ")"));
      box.appendChild(el("div", {}, "p = " + fmtP(t.p) + " over " + t.n + " queries: " +
        (sig ? "significant at p < " + DATA.alpha : "not significant at p < " + DATA.alpha + " (could be noise)")));
      out.appendChild(box);
    }
    var table = el("table", { "class": "vs-baseline" });
    var head = el("tr");
    ["model", "mean", "minus " + DATA.models[s.b].short, "p", "queries"].forEach(function (h) { head.appendChild(el("th", {}, h)); });
    table.appendChild(el("thead")).appendChild(head);
    var body = el("tbody");
    DATA.models.forEach(function (m, i) {
      if (i === s.b) return;
      var r = lookup(s.key, i, s.b);
      var tr = el("tr");
      tr.appendChild(el("td", {}, m.label));
      if (r) {
        tr.appendChild(el("td", { "class": "num" }, fmtVal(r.meanA, s.pmrr)));
        tr.appendChild(el("td", { "class": "num " + (r.p < DATA.alpha ? "sig" : "") }, fmtDiff(r.diff, s.pmrr) + (r.p < DATA.alpha ? " ●" : "")));
        tr.appendChild(el("td", { "class": "num" }, fmtP(r.p)));
        tr.appendChild(el("td", { "class": "num" }, String(r.n)));
      } else { tr.appendChild(el("td", { colspan: "4", "class": "na" }, "no shared queries")); }
      body.appendChild(tr);
    });
    table.appendChild(body);
    all.appendChild(el("h3", {}, "Every model against " + DATA.models[s.b].label + " (" + s.task + ", " + s.label + ")"));
    all.appendChild(table);
  }

  /* ---- per query ------------------------------------------------------------------------ */
  function showPerQuery(s) {
    var body = document.querySelector("#pq-table tbody"), summary = document.getElementById("pq-summary");
    body.innerHTML = ""; summary.innerHTML = "";
    var values = DATA.perQuery[s.key] || {}, va = values[s.a] || {}, vb = values[s.b] || {};
    var qids = Object.keys(va).filter(function (q) { return q in vb; }).sort();
    var rows = qids.map(function (q) { return { q: q, a: va[q], b: vb[q], d: va[q] - vb[q] }; });
    rows.sort(function (x, y) { return (y.d - x.d) || (x.q < y.q ? -1 : 1); });
    var maxAbs = rows.reduce(function (m, r) { return Math.max(m, Math.abs(r.d)); }, 0) || 1;
    var eps = 1e-12;
    var gains = rows.filter(function (r) { return r.d > eps; }).length, losses = rows.filter(function (r) { return r.d < -eps; }).length;
    summary.appendChild(el("p", {}, DATA.models[s.a].short + " vs " + DATA.models[s.b].short + " on " + s.task + " " + s.label + ": " +
      rows.length + " queries, gains on " + gains + ", loses on " + losses + ", ties on " + (rows.length - gains - losses) + "."));
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", { "data-v": r.q }, r.q));
      tr.appendChild(el("td", { "class": "num", "data-v": String(r.a) }, fmtVal(r.a, s.pmrr)));
      tr.appendChild(el("td", { "class": "num", "data-v": String(r.b) }, fmtVal(r.b, s.pmrr)));
      tr.appendChild(el("td", { "class": "num " + (r.d > eps ? "pos" : r.d < -eps ? "neg" : ""), "data-v": String(r.d) }, fmtDiff(r.d, s.pmrr)));
      var barCell = el("td", { "class": "bar-cell" });
      var bar = el("span", { "class": "bar " + (r.d >= 0 ? "gain" : "loss") });
      bar.style.width = (50 * Math.abs(r.d) / maxAbs).toFixed(1) + "%";
      if (r.d < 0) bar.style.marginLeft = (50 - 50 * Math.abs(r.d) / maxAbs).toFixed(1) + "%"; else bar.style.marginLeft = "50%";
      barCell.appendChild(bar);
      tr.appendChild(barCell);
      body.appendChild(tr);
    });
  }

  if (taskNames.length) {
    wire("sig", showSignificance, [other, baseline]);
    wire("pq", showPerQuery, [other, baseline]);
  }

  /* ---- self-test (used by the browser test: index.html#selftest) -------------------------- */
  // Labels whose text is cut by their box, and pickers or figures reaching past the page's right edge.
  function clippedElements() {
    var out = [], width = document.documentElement.clientWidth;
    document.querySelectorAll(".model-col, .label-col, .legend li, .variant, th, .picker label").forEach(function (e) {
      if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== "visible") out.push("cut: " + e.textContent.trim().slice(0, 80));
    });
    document.querySelectorAll(".picker select, figure, .sig-box").forEach(function (e) {
      var r = e.getBoundingClientRect();
      if (r.right > width + 1) out.push("past the edge: " + (e.id || e.tagName) + " " + Math.round(r.right) + " > " + width);
    });
    return out;
  }


  if (location.hash === "#selftest") {
    var result = { errors: window.__lbErrors, checks: {} };
    try {
      var table = document.getElementById("main-table");
      var th = table.querySelector("th[data-col]");
      var idx = columnIndex(th);
      th.click();
      var desc = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return cellKey(r, idx, "num"); });
      th.click();
      var asc = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return cellKey(r, idx, "num"); });
      var nums = function (xs) { return xs.filter(function (x) { return x !== null; }); };
      var isSorted = function (xs, dir) { for (var k = 1; k < xs.length; k++) { if (dir * (xs[k] - xs[k - 1]) < 0) return false; } return true; };
      result.checks.column = th.getAttribute("data-col");
      result.checks.descending = desc;
      result.checks.ascending = asc;
      result.checks.sortedDescending = isSorted(nums(desc), -1);
      result.checks.sortedAscending = isSorted(nums(asc), 1);
      result.checks.ariaSort = th.getAttribute("aria-sort");
      result.checks.significanceShown = document.querySelectorAll("#sig-result .sig-box").length;
      result.checks.perQueryRows = document.querySelectorAll("#pq-table tbody tr").length;
      result.checks.plots = document.querySelectorAll("#plots svg").length;
      result.checks.clipped = clippedElements();
      var viewport = document.documentElement.clientWidth;
      result.checks.viewport = viewport;
      result.checks.modelColumn = Math.round(table.querySelector("th.model-col").getBoundingClientRect().width);
      result.checks.scoreColumnsInView = Array.prototype.filter.call(table.querySelectorAll("th[data-col]"), function (h) {
        return h.getBoundingClientRect().right <= viewport + 1;
      }).length;
    } catch (e) { result.errors.push(String(e)); }
    var pre = document.getElementById("selftest-result");
    pre.textContent = JSON.stringify(result);
    pre.hidden = false;
  }
})();
