// Refreshes the line status: fetches the server-rendered fragment and swaps
// it in. No framework; without JavaScript the page still shows the status
// as of its loading.
(function () {
  "use strict";
  var box = document.getElementById("lines-live");
  if (!box) { return; }
  var every = parseInt(box.getAttribute("data-refresh"), 10) || 5000;
  var src = box.getAttribute("data-src");
  var busy = false;
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(src, { credentials: "same-origin", headers: { "X-Serialine-Live": "1" }, cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          box.innerHTML = html;
          box.removeAttribute("data-stale");
        }
      })
      .catch(function () { box.setAttribute("data-stale", "true"); })
      .finally(function () { busy = false; });
  }
  setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
