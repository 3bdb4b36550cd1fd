// Refreshes <main> from the server's own rendering every few seconds (no full reload, no
// framework): the page asks for ?fragment=1, swaps it in, and keeps keyboard focus in place.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var updated = document.getElementById("updated");
  var every = parseInt(document.body.getAttribute("data-refresh-ms"), 10);
  var busy = false;
  if (!(every > 0) || !main) { return; }
  function focusKey() {
    var el = document.activeElement;
    if (!el || !main.contains(el)) { return null; }
    return el.getAttribute("href") || el.id || null;
  }
  function restore(key) {
    if (!key) { return; }
    var els = main.querySelectorAll("a[href], [id]");
    for (var i = 0; i < els.length; i++) {
      if (els[i].getAttribute("href") === key || els[i].id === key) { els[i].focus(); return; }
    }
  }
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    var url = window.location.pathname + "?fragment=1";
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var key = focusKey();
        main.innerHTML = html;
        restore(key);
        updated.textContent = "Live: updated " + new Date().toLocaleTimeString();
      })
      .catch(function (err) {
        updated.textContent = "Not updated: " + err.message + " (retrying)";
      })
      .then(function () { busy = false; });
  }
  setInterval(refresh, every);
})();
