// The edit page keeps its lease alive while the user works, and gives it up when the page goes;
// it keeps the user's text as a draft (on the server with the heartbeat, in the browser as they
// type), so no typed word is lost; every page says its times in the reader's own time zone.
(function () {
  "use strict";

  var SUBMITTED_KEY = "messageboard:submitted";

  function readLocal(key) {
    try {
      var entry = JSON.parse(window.localStorage.getItem(key) || "null");
      return entry && typeof entry.body === "string" ? entry : null;
    } catch (error) {
      return null;  // storage refused (private mode, quota) or not ours: nothing kept
    }
  }

  function startEditing(form) {
    var renewUrl = form.dataset.renewUrl;
    var releaseUrl = form.dataset.releaseUrl;
    var draftUrl = form.dataset.draftUrl;
    var localKey = form.dataset.localDraftKey;
    var serverDraftSeq = Number(form.dataset.serverDraftSeq) || 0;
    var renewMs = Number(form.dataset.renewSeconds) * 1000;
    var idleMs = Number(form.dataset.idleSeconds) * 1000;
    var tokenInput = form.querySelector("input[name=lease_token]");
    var csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");
    var baseInput = form.querySelector("input[name=base_version]");
    var seqInput = form.querySelector("input[name=draft_seq]");
    var subjectField = form.querySelector("input[name=subject]");
    var bodyField = form.querySelector("textarea[name=body]");
    var lastActivity = Date.now();
    var leaving = false;

    // Draft numbers are milliseconds, so a page opened later (a reload, another tab) always
    // numbers its drafts above the ones before: the server keeps only the newest.
    var lastSeq = 0;
    function nextSeq() {
      lastSeq = Math.max(Date.now(), lastSeq + 1);
      if (seqInput) seqInput.value = String(lastSeq);
      return lastSeq;
    }
    function typedText() { return subjectField.value + "\u0000" + bodyField.value; }
    // What the server holds of this page's text: nothing to keep until the person types.
    var keptText = typedText();

    function draftValues() {
      return {
        subject: subjectField.value, body: bodyField.value,
        base_version: baseInput.value, draft_seq: String(nextSeq()),
      };
    }

    // A copy in this browser, written as the person types: it survives a lost network, a
    // closed tab and a crash, and is offered when the editor opens again.
    var localTimer = null;
    function keepLocallyNow() {
      window.clearTimeout(localTimer);
      localTimer = null;
      try {
        window.localStorage.setItem(localKey, JSON.stringify({
          subject: subjectField.value, body: bodyField.value,
          base_version: Number(baseInput.value), seq: Date.now(),
        }));
      } catch (error) { /* storage full or refused: the server's draft still keeps the text */ }
    }
    function keepLocally() {
      window.clearTimeout(localTimer);
      localTimer = window.setTimeout(keepLocallyNow, 300);
    }
    function flushLocalCopy() {
      // Typed within the last moments: write it now, before the page goes.
      if (localTimer !== null) keepLocallyNow();
    }
    [subjectField, bodyField].forEach(function (field) { field.addEventListener("input", keepLocally); });

    function keepOnServer() {
      // Without the lease (lost, expired, broken): the draft needs none.
      if (typedText() === keptText || !bodyField.value.trim()) return;
      var sent = typedText();
      var data = new FormData();
      data.append("csrfmiddlewaretoken", csrfInput.value);
      var values = draftValues();
      Object.keys(values).forEach(function (name) { data.append(name, values[name]); });
      fetch(draftUrl, { method: "POST", body: data, credentials: "same-origin" }).then(function (response) {
        if (response.status === 204) keptText = sent;
      }).catch(function () { /* offline: the browser's copy holds the text until the next try */ });
    }

    function markActive() { lastActivity = Date.now(); }
    ["input", "keydown", "pointerdown", "scroll", "focus"].forEach(function (name) {
      window.addEventListener(name, markActive, { passive: true, capture: true });
    });

    function renew() {
      if (leaving) return;
      var status = document.getElementById("lease-status");
      if (!status) return;
      if (status.dataset.leaseState === "lost") {
        keepOnServer();
        return;
      }
      // Past the idle cut-off the lease is left to lapse, so an abandoned tab frees the message.
      if (Date.now() - lastActivity > idleMs) return;
      var values = { lease_token: tokenInput.value };
      var sent = typedText();
      // The heartbeat carries the text only when it changed since the server last kept it.
      if (sent !== keptText && bodyField.value.trim()) Object.assign(values, draftValues());
      var seq = values.draft_seq;
      htmx.ajax("POST", renewUrl, {
        source: status, target: "#lease-status", swap: "outerHTML", values: values,
      }).then(function () {
        var after = document.getElementById("lease-status");
        if (seq && after && after.dataset.draftSeq === seq) keptText = sent;
      });
    }
    var timer = window.setInterval(renew, renewMs);

    // The moment the lease is found lost (lapsed, broken, taken over), keep the text at once.
    document.addEventListener("htmx:afterSettle", function (event) {
      var status = document.getElementById("lease-status");
      if (status && event.detail.elt === status && status.dataset.leaseState === "lost") keepOnServer();
    });

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
      flushLocalCopy();
      // The save itself releases the lease; a beacon racing it would make the save fail.
      leaving = true;
      window.clearInterval(timer);
      // Numbered above every heartbeat this page sent, so none arriving late revives the draft
      // the save ends; and this browser's copy is dropped once the save is confirmed.
      var seq = nextSeq();
      try {
        window.sessionStorage.setItem(SUBMITTED_KEY, JSON.stringify({ key: localKey, seq: Date.now(), draftSeq: seq }));
      } catch (error) { /* the copy then stays, and is offered only while it differs */ }
    });

    window.addEventListener("pagehide", function () {
      flushLocalCopy();
      if (leaving) return;
      leaving = true;
      window.clearInterval(timer);
      var data = new FormData();
      data.append("csrfmiddlewaretoken", csrfInput.value);
      data.append("lease_token", tokenInput.value);
      data.append("beacon", "1");
      if (typedText() !== keptText && bodyField.value.trim()) {
        // Closing the tab: the release carries the text, kept as a draft before the lease goes.
        var values = draftValues();
        Object.keys(values).forEach(function (name) { data.append(name, values[name]); });
      }
      navigator.sendBeacon(releaseUrl, data);
    });

    offerLocalCopy();
    resolveConflicts();

    function offerLocalCopy() {
      var entry = readLocal(localKey);
      var offer = document.getElementById("local-draft-offer");
      if (!entry || !offer) return;
      var sameText = entry.body === bodyField.value && entry.subject === subjectField.value;
      if (sameText || entry.seq <= serverDraftSeq) return;
      var time = offer.querySelector("time[data-local-draft-time]");
      time.setAttribute("datetime", new Date(entry.seq).toISOString());
      time.dataset.show = "when";
      time.textContent = new Date(entry.seq).toISOString();
      var version = Number(form.dataset.version);
      if (entry.base_version && entry.base_version !== version) {
        offer.querySelector("[data-local-draft-version]").textContent =
          "It was written on version " + entry.base_version + "; restoring it merges it with version " + version + ".";
      }
      offer.hidden = false;
      offer.querySelector("[data-local-draft-restore]").addEventListener("click", function () {
        subjectField.value = entry.subject;
        bodyField.value = entry.body;
        offer.hidden = true;
        if (entry.base_version && entry.base_version !== version) {
          // Written on an older version: the server merges it with this one (the "resume" path).
          baseInput.value = String(entry.base_version);
          resumeWithTypedText();
        }
      });
      offer.querySelector("[data-local-draft-discard]").addEventListener("click", function () {
        try { window.localStorage.removeItem(localKey); } catch (error) { /* nothing kept */ }
        offer.hidden = true;
      });
    }

    function resolveConflicts() {
      // Each "Keep mine" / "Take theirs" replaces its conflict's marked block in the text.
      var items = Array.prototype.slice.call(document.querySelectorAll("li.conflict[data-conflict-field=body]"));
      var marked = /\n<<<<<<< your text\n([\s\S]*?)\n======= version \d+\n([\s\S]*?)\n>>>>>>> end of conflict\n/g;
      items.forEach(function (item) {
        item.querySelectorAll("button[data-conflict-keep]").forEach(function (button) {
          button.addEventListener("click", function () {
            var index = items.filter(function (other) {
              return other !== item && !other.classList.contains("resolved") &&
                items.indexOf(other) < items.indexOf(item);
            }).length;
            var seen = -1;
            bodyField.value = bodyField.value.replace(marked, function (block, mine, theirs) {
              seen += 1;
              if (seen !== index) return block;
              return button.dataset.conflictKeep === "mine" ? mine : theirs;
            });
            item.classList.add("resolved");
            item.querySelectorAll("button").forEach(function (other) { other.disabled = true; });
            keepLocally();
          });
        });
      });
      document.querySelectorAll("button[data-subject-take]").forEach(function (button) {
        button.addEventListener("click", function () {
          subjectField.value = button.dataset.subjectTake;
          button.disabled = true;
        });
      });
    }

    window.addEventListener("pageshow", function (event) {
      // Back on this page after leaving it. From the back-forward cache: the lease went on
      // pagehide, but the text on the page is the user's. Reloaded instead: the browser put
      // the user's unsaved text back into a fresh form whose version and lease are new (it
      // does so after "load"), and saving it would silently overwrite whatever was saved in
      // between. Either way resume with the text, from the version it was written on (this
      // browser's copy knows it), so the server merges it with whatever was saved since.
      if (event.persisted || textWasRestored()) {
        var entry = readLocal(localKey);
        if (entry && entry.body === bodyField.value && entry.base_version) baseInput.value = String(entry.base_version);
        resumeWithTypedText();
      }
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

  // A save confirmed ("Saved: this is now version N"): this browser's copy of its text is done with.
  function forgetSavedCopy() {
    var saved = document.querySelector(".flash li.saved");
    if (!saved) return;
    try {
      var submitted = JSON.parse(window.sessionStorage.getItem(SUBMITTED_KEY) || "null");
      window.sessionStorage.removeItem(SUBMITTED_KEY);
      if (!submitted || !submitted.key) return;
      var messageId = submitted.key.split(":").pop();
      if (!saved.classList.contains("saved-" + messageId)) return;
      var entry = readLocal(submitted.key);
      // Text typed in another tab after this save was sent stays.
      if (entry && entry.seq <= submitted.seq) window.localStorage.removeItem(submitted.key);
    } catch (error) { /* storage refused: nothing was kept */ }
  }

  // Discarding the server's draft discards this browser's copy of the message too.
  document.addEventListener("submit", function (event) {
    if (!event.target.querySelector || !event.target.querySelector("button[data-draft-discard]")) return;
    var form = document.getElementById("edit-form");
    if (!form) return;
    try { window.localStorage.removeItem(form.dataset.localDraftKey); } catch (error) { /* nothing kept */ }
  });

  document.addEventListener("DOMContentLoaded", function () {
    forgetSavedCopy();
    localiseTimes(document);
    // "in 2 minutes" must not stay true for ever.
    window.setInterval(function () { localiseTimes(document); }, 20000);
    var form = document.getElementById("edit-form");
    if (form && form.dataset.renewUrl) startEditing(form);
  });
  // Parts the page swaps in (the lease status) come in UTC too.
  document.addEventListener("htmx:afterSettle", function (event) { localiseTimes(event.detail.elt); });

  // A waiter's turn came: the lease is kept for them for a short while, so open the editor at
  // once (with their kept text, through the "Edit it now" handler above, when there is some).
  function openEditorOnYourTurn(root) {
    var status = root && root.id === "lease-status" ? root : document.getElementById("lease-status");
    if (!status || status.dataset.leaseState !== "your-turn") return;
    var link = status.querySelector("a[data-edit-now]");
    if (link) link.click();
  }
  document.addEventListener("htmx:afterSettle", function (event) { openEditorOnYourTurn(event.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () { openEditorOnYourTurn(null); });

  // The Preview asks the server only while it is open: typing with it closed costs nothing.
  // (htmx's own event filters would need eval, which the page's CSP forbids.)
  document.addEventListener("input", function (event) {
    var preview = document.getElementById(event.target.id + "-preview");
    if (preview && preview.closest("details").open) {
      preview.dispatchEvent(new CustomEvent("preview-text-changed"));
    }
  });
})();
