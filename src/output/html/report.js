"use strict";
// flowgate's HTML report: sortable and filterable tables. No network, no storage, no eval:
// the page's Content-Security-Policy allows this script by its hash and nothing else.
(function () {
  function cellValue(row, col, numeric) {
    var cell = row.cells[col];
    var raw = cell ? (cell.getAttribute("data-v") || cell.textContent) : "";
    return numeric ? Number(raw) : raw;
  }
  function sortBy(table, col, th) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var numeric = th.classList.contains("n");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (row, i) { row.setAttribute("data-i", i); });
    rows.sort(function (a, b) {
      var x = cellValue(a, col, numeric), y = cellValue(b, col, numeric);
      var order = x < y ? -1 : x > y ? 1 : 0;
      if (!ascending) { order = -order; }
      return order || Number(a.getAttribute("data-i")) - Number(b.getAttribute("data-i"));
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.title = "sort";
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("form.filter"), function (form) {
    var table = document.getElementById(form.getAttribute("data-table"));
    var shown = form.querySelector("output");
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var columns = { client: Number(form.getAttribute("data-client")),
                    server: Number(form.getAttribute("data-server")),
                    port: Number(form.getAttribute("data-port")) };
    function apply() {
      var wanted = {};
      Object.keys(columns).forEach(function (k) { wanted[k] = form.elements[k].value.trim(); });
      var n = 0;
      rows.forEach(function (row) {
        var keep = Object.keys(columns).every(function (k) {
          var text = row.cells[columns[k]].textContent;
          return wanted[k] === "" || (k === "port" ? text === wanted[k] : text.indexOf(wanted[k]) !== -1);
        });
        row.hidden = !keep;
        if (keep) { n++; }
      });
      shown.value = n + " of " + rows.length + " rows shown";
    }
    form.addEventListener("input", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    apply();
  });
  document.documentElement.setAttribute("data-ready", "true");
})();
