// The edit page keeps its lease alive while the user works, and gives it up when the page goes.
(function () {
  "use strict";

  function startEditing(form) {
    var renewUrl = form.dataset.renewUrl;
    var releaseUrl = form.dataset.releaseUrl;
    var renewMs = Number(form.dataset.renewSeconds) * 1000;
    var idleMs = Number(form.dataset.idleSeconds) * 1000;
    var tokenInput = form.querySelector("input[name=lease_token]");
    var csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");
    var lastActivity = Date.now();
    var leaving = false;

    function markActive() { lastActivity = Date.now(); }
    ["input", "keydown", "pointerdown", "scroll", "focus"].forEach(function (name) {
      window.addEventListener(name, markActive, { passive: true, capture: true });
    });

    function renew() {
      if (leaving) return;
      // Past the idle cut-off the lease is left to lapse, so an abandoned tab frees the message.
      if (Date.now() - lastActivity > idleMs) return;
      var status = document.getElementById("lease-status");
      if (!status || status.dataset.leaseState === "lost") return;
      htmx.ajax("POST", renewUrl, {
        source: status, target: "#lease-status", swap: "outerHTML",
        values: { lease_token: tokenInput.value },
      });
    }
    var timer = window.setInterval(renew, renewMs);

    form.addEventListener("submit", function () {
      // The save itself releases the lease; a beacon racing it would make the save fail.
      leaving = true;
      window.clearInterval(timer);
    });

    window.addEventListener("pagehide", function () {
      if (leaving) return;
      leaving = true;
      window.clearInterval(timer);
      var data = new FormData();
      data.append("csrfmiddlewaretoken", csrfInput.value);
      data.append("lease_token", tokenInput.value);
      data.append("beacon", "1");
      navigator.sendBeacon(releaseUrl, data);
    });

    window.addEventListener("pageshow", function (event) {
      // Restored from the back-forward cache: the lease was released on pagehide.
      if (event.persisted) window.location.reload();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("edit-form");
    if (form && form.dataset.renewUrl) startEditing(form);
  });
})();
