// The edit page keeps its lease alive while the user works, and gives it up when the page goes;
// every page says its times in the reader's own time zone.
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

    function resumeWithTypedText() {
      // Take the lease again through the server's "resume" path: it keeps this text, and shows
      // the stored version beside it when that moved on (or says who is editing now).
      leaving = true;
      window.clearInterval(timer);
      var intent = document.createElement("input");
      intent.type = "hidden";
      intent.name = "intent";
      intent.value = "resume";
      form.appendChild(intent);
      HTMLFormElement.prototype.submit.call(form);
    }

    function textWasRestored() {
      var fields = form.querySelectorAll("input[name=subject], textarea[name=body]");
      return Array.prototype.some.call(fields, function (field) {
        return field.value !== field.defaultValue;
      });
    }

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
      // Back on this page after leaving it. From the back-forward cache: the lease went on
      // pagehide, but the text on the page is the user's. Reloaded instead: the browser put
      // the user's unsaved text back into a fresh form whose version and lease are new (it
      // does so after "load"), and saving it would silently overwrite whatever was saved in
      // between. Either way resume with the text, so the server shows it beside the stored one.
      if (event.persisted || textWasRestored()) resumeWithTypedText();
    });
  }

  // A refused save left the user's text in the "resume" form while someone else edits. When the
  // message frees, "Edit it now" must carry that text into the editor, not open the stored one.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-edit-now]");
    var resume = document.getElementById("resume-form");
    if (!link || !resume) return;
    event.preventDefault();
    resume.requestSubmit();
  });

  // Times come from the server in UTC (<time datetime=… data-show=…>); say them in the reader's
  // own time zone and language, and as "3 hours ago" / "in 2 minutes" where that reads better.
  var WEEK_SECONDS = 7 * 24 * 3600;

  function inWords(seconds) {
    var words = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    var size = Math.abs(seconds);
    if (size < 45) return words.format(seconds, "second");
    if (size < 45 * 60) return words.format(Math.round(seconds / 60), "minute");
    if (size < 22 * 3600) return words.format(Math.round(seconds / 3600), "hour");
    return words.format(Math.round(seconds / 86400), "day");
  }

  function localiseTimes(root) {
    var now = Date.now();
    var elements = (root || document).querySelectorAll("time[datetime][data-show]");
    Array.prototype.forEach.call(elements, function (element) {
      var at = new Date(element.getAttribute("datetime"));
      if (isNaN(at.getTime())) return;
      var seconds = Math.round((at.getTime() - now) / 1000);
      element.title = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" }).format(at);
      if (element.dataset.show === "clock") {
        var clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" }).format(at);
        element.textContent = clock + " (" + inWords(seconds) + ")";
      } else if (Math.abs(seconds) < WEEK_SECONDS) {
        element.textContent = inWords(seconds);
      } else {
        element.textContent = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(at);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
    // "in 2 minutes" must not stay true for ever.
    window.setInterval(function () { localiseTimes(document); }, 20000);
    var form = document.getElementById("edit-form");
    if (form && form.dataset.renewUrl) startEditing(form);
  });
  // Parts the page swaps in (the lease status) come in UTC too.
  document.addEventListener("htmx:afterSettle", function (event) { localiseTimes(event.detail.elt); });
})();
