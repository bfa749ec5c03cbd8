// The menu's count of hand-overs waiting for staff, refreshed without reloading the page.
(function () {
  "use strict";
  var badge = document.getElementById("handoff-badge");
  if (!badge || !window.fetch) { return; }
  var EVERY = 15000;
  function refresh() {
    fetch(badge.getAttribute("data-source"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (counts) {
        if (!counts) { return; }
        badge.textContent = String(counts.todo);
        badge.hidden = counts.todo === 0;
        badge.title = counts.todo + " yêu cầu cần xử lý, " + counts.mine + " của bạn";
      })
      .catch(function () { /* offline for a moment: the next look will do */ });
  }
  window.setInterval(refresh, Number(badge.getAttribute("data-every")) || EVERY);
})();
