// The privacy center's only script. Every page works without it; it only
// (1) shows the fields that belong to the chosen request type, (2) moves
// keyboard focus to an error summary so screen readers announce it, and
// (3) takes a request's token out of the address bar once the page has
// stored it in a cookie, so it is not left in history or shared by a
// screenshot. No inline script exists: the CSP forbids it.
(function () {
  "use strict";

  function syncType(select) {
    var type = select.value;
    var form = select.form;
    var blocks = form.querySelectorAll("[data-for]");
    for (var i = 0; i < blocks.length; i++) {
      var on = blocks[i].getAttribute("data-for") === type;
      blocks[i].hidden = !on;
      // Hidden fields must not be submitted either.
      var inputs = blocks[i].querySelectorAll("input, textarea, select");
      for (var j = 0; j < inputs.length; j++) {
        inputs[j].disabled = !on;
      }
    }
  }

  function init() {
    var select = document.querySelector("[data-type-select]");
    if (select) {
      syncType(select);
      select.addEventListener("change", function () { syncType(select); });
    }
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
    }
    if (window.history && window.history.replaceState && window.URLSearchParams) {
      var params = new URLSearchParams(window.location.search);
      if (params.has("token")) {
        params.delete("token");
        var q = params.toString();
        window.history.replaceState(null, "", window.location.pathname + (q ? "?" + q : "") + window.location.hash);
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
