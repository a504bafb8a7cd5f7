// Live numbers: poll /api/stamp; when a new snapshot is stored, fetch this page again and
// swap its <main> (no full reload, the focus and scroll stay). A page whose lists change
// with time alone (the warnings: a due instant passing) also sets data-refresh (ms) and is
// fetched again that often whatever the stamp. No library, no CDN.
(function () {
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  var every = parseInt(main && main.dataset.poll, 10) || 1000;
  var refresh = parseInt(main && main.dataset.refresh, 10) || 0;
  var stamp = null, busy = false, last = Date.now();
  document.querySelectorAll(".selectors select").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  function tick() {
    if (busy) return;
    busy = true;
    fetch("/api/stamp", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) return null;
        var due = refresh > 0 && Date.now() - last >= refresh;
        if (stamp === null) { stamp = j.stamp; if (!due) return null; }
        if (j.stamp === stamp && !due) return null;
        stamp = j.stamp;
        last = Date.now();
        return fetch(location.href, {credentials: "same-origin", cache: "no-store"})
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var fresh = doc.getElementById("main");
            if (fresh) {
              main.innerHTML = fresh.innerHTML;
              var d = new Date();
              live.textContent = "Số liệu vừa cập nhật lúc " +
                String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
            }
          });
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  tick();
  setInterval(tick, every);
})();
