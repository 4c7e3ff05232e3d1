// The dashboard's one script. Pages work without it; it streams the progress of a running run
// from the server (server-sent events) and reloads the page when the run ends.
(function () {
  "use strict";
  var live = document.querySelector("[data-events]");
  if (!live || !window.EventSource) return;
  var status = live.querySelector("[data-progress-status]");
  var body = live.querySelector("[data-progress-rows]");
  var elapsed = live.querySelector("[data-progress-elapsed]");
  var log = live.querySelector("[data-progress-log]");
  var src = new EventSource(live.getAttribute("data-events"));
  function text(el, s) { if (el) el.textContent = s; }
  function cell(tr, label, value, num) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    if (num) td.className = "num";
    td.textContent = value;
    tr.appendChild(td);
  }
  src.addEventListener("progress", function (ev) {
    var p = JSON.parse(ev.data);
    live.hidden = false;
    text(status, "Running: run " + p.run_id);
    text(elapsed, p.elapsed);
    if (body) {
      body.textContent = "";
      p.models.forEach(function (m) {
        var tr = document.createElement("tr");
        cell(tr, "Model", m.model);
        cell(tr, "Added", m.added, true);
        cell(tr, "Updated", m.updated, true);
        cell(tr, "Deleted", m.deleted, true);
        cell(tr, "Unchanged", m.unchanged, true);
        body.appendChild(tr);
      });
    }
    if (log && p.log) log.textContent = p.log.join("\n");
  });
  src.addEventListener("done", function (ev) {
    src.close();
    var p = JSON.parse(ev.data);
    text(status, "Run " + p.run_id + " ended: " + p.state + ". Reloading…");
    // Reload without the answer to the button that started the run: it is old news.
    var u = new URL(window.location.href);
    u.searchParams.delete("done");
    window.location.replace(u.toString());
  });
  src.onerror = function () {
    text(status, "Live progress lost; reload the page to see where the run stands.");
  };
})();
