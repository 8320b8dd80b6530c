/* Hài lòng: keeps a citizen's answers on the phone and sends them until the server confirms.
 *
 * Progressive enhancement only: without this script the form posts and re-renders as usual.
 * With it, answers are saved in localStorage (per desk and round) as they are given and
 * restored on reload; the submit goes through fetch with the same fields, and when it fails
 * (offline, 15 s timeout, 5xx, 429, or an answer that is not our thank-you page) the page says
 * so and retries with the SAME idempotency key, so the server stores it exactly once.
 * Items whose condition is not met are hidden until it is.
 */
(function () {
  "use strict";

  var TIMEOUT_MS = 15000;
  var FIRST_DELAY_MS = 2000;
  var MAX_DELAY_MS = 60000;
  var KEEP_MS = 24 * 3600 * 1000; // unsent drafts older than this start empty again
  var KEPT = /^(q_|dossier_code$)/; // answers; never the CSRF token or the honeypot

  var storage = openStorage();
  var pending = false; // the citizen pressed "send" and the server has not answered yet
  var sending = false;
  var attempts = 0;
  var retryTimer = null;

  function openStorage() {
    try {
      var probe = "hailong:probe";
      window.localStorage.setItem(probe, probe);
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null; // private mode or storage switched off: the form still works
    }
  }

  function status() {
    return document.getElementById("send-status");
  }

  function currentForm() {
    var s = status();
    return s ? s.closest("form") : null;
  }

  function storeKey() {
    return "hailong:" + status().getAttribute("data-store");
  }

  function load() {
    if (!storage) return null;
    try {
      var state = JSON.parse(storage.getItem(storeKey()) || "null");
      if (!state || typeof state.fields !== "object") return null;
      if (!state.pending && Date.now() - state.at > KEEP_MS) return null;
      return state;
    } catch (e) {
      return null;
    }
  }

  function save(form, pending) {
    if (!storage) return;
    var fields = {};
    eachField(form, function (el) {
      if (!KEPT.test(el.name)) return;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      (fields[el.name] = fields[el.name] || []).push(el.value);
    });
    var state = {
      at: Date.now(),
      pending: pending,
      key: form.elements.idempotency_key.value,
      started: form.elements.started.value,
      fields: fields
    };
    try {
      storage.setItem(storeKey(), JSON.stringify(state));
    } catch (e) {
      // Storage full: the answers are still on the page.
    }
  }

  function forget() {
    if (storage) storage.removeItem(storeKey());
  }

  function eachField(form, fn) {
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i];
      if (el.name && !el.disabled && el.type !== "submit" && el.type !== "button") fn(el);
    }
  }

  function restore(form, state) {
    eachField(form, function (el) {
      if (!KEPT.test(el.name)) return;
      var values = state.fields[el.name] || [];
      if (el.type === "radio" || el.type === "checkbox") {
        el.checked = values.indexOf(el.value) >= 0;
      } else {
        el.value = values.length ? values[0] : "";
      }
    });
    // The key a failed send used, so that its retry cannot be counted twice; and the moment the
    // form was first served, so that the answering time stays honest.
    if (state.key) form.elements.idempotency_key.value = state.key;
    if (state.started) form.elements.started.value = state.started;
  }

  function say(kind) {
    var s = status();
    if (!s) return;
    s.textContent = kind ? s.getAttribute("data-" + kind) : "";
    s.className = "send-status" + (kind ? " send-status-" + kind : "");
  }

  function applyConditions(form) {
    var items = form.querySelectorAll("[data-when]");
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var wanted = item.getAttribute("data-when-values").split(" ");
      var met = false;
      eachField(form, function (el) {
        if (el.name === item.getAttribute("data-when") && el.checked) {
          met = met || wanted.indexOf(el.value) >= 0;
        }
      });
      // An item the server flagged stays visible, whatever its condition says.
      item.hidden = !met && !/\bhas-error\b/.test(item.className);
    }
  }

  function body(form) {
    var parts = [];
    eachField(form, function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      var value = el.tagName === "TEXTAREA" ? el.value.replace(/\r?\n/g, "\r\n") : el.value;
      parts.push(encode(el.name) + "=" + encode(value));
    });
    return parts.join("&");
  }

  function encode(text) {
    return encodeURIComponent(text).replace(/%20/g, "+");
  }

  function isThanks(response) {
    var wanted = status().getAttribute("data-thanks");
    return response.ok && response.redirected && new URL(response.url).pathname === wanted;
  }

  function send() {
    var form = currentForm();
    if (!form || sending) return;
    window.clearTimeout(retryTimer);
    pending = true;
    sending = true;
    say("sending");
    var controller = new AbortController();
    var timeout = window.setTimeout(function () {
      controller.abort();
    }, TIMEOUT_MS);
    window
      .fetch(form.action, {
        method: "POST",
        body: body(form),
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          "X-Requested-With": "fetch"
        },
        credentials: "same-origin",
        cache: "no-store",
        redirect: "follow",
        signal: controller.signal
      })
      .then(function (response) {
        window.clearTimeout(timeout);
        if (isThanks(response)) {
          // Confirmed. Show the thank-you page fetch already followed the redirect to, rather
          // than asking for it again: one round trip less on a slow network.
          forget();
          pending = false;
          return response.text().then(
            function (html) {
              window.history.replaceState(null, "", response.url);
              replacePage(html);
            },
            function () {
              window.location.replace(response.url);
            }
          );
        }
        if (response.status === 429 || response.status >= 500 || response.ok) {
          // Busy, broken, or not our server's answer (a captive portal): try again later.
          return retryLater(response.status === 429 ? "busy" : "failed", response);
        }
        // Validation errors (422), a closed round (409) and other refusals are final
        // answers: show the page the server sent, with the answers it re-rendered.
        return response.text().then(function (html) {
          pending = false;
          sending = false;
          attempts = 0;
          replacePage(html);
        });
      })
      .catch(function () {
        window.clearTimeout(timeout);
        retryLater("failed", null);
      });
  }

  function retryLater(kind, response) {
    sending = false;
    attempts += 1;
    var delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * Math.pow(2, attempts - 1));
    delay = delay * (0.75 + Math.random() / 2); // phones at one desk do not retry in step
    var after = response && Number(response.headers.get("Retry-After"));
    if (after > 0) delay = Math.max(delay, Math.min(after * 1000, 5 * MAX_DELAY_MS));
    say(kind);
    retryTimer = window.setTimeout(send, delay);
  }

  function replacePage(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    document.title = page.title;
    document.documentElement.lang = page.documentElement.lang || document.documentElement.lang;
    document.body.replaceWith(document.adoptNode(page.body));
    window.scrollTo(0, 0);
    var target = document.getElementById("form-notice") || document.querySelector("h1");
    if (target) {
      if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
      target.focus();
    }
    start(false);
  }

  function start(fromLoad) {
    var form = currentForm();
    if (!form) return;
    var state = fromLoad && !document.getElementById("form-notice") ? load() : null;
    if (state) {
      restore(form, state);
      say(state.pending ? "sending" : "restored");
    } else {
      // A page the server re-rendered holds exactly what was sent: keep that.
      save(form, false);
    }
    applyConditions(form);
    if (state && state.pending) send();
  }

  function onEdit(event) {
    var form = currentForm();
    if (!form || event.target.form !== form) return;
    applyConditions(form);
    save(form, pending);
  }

  if (!status() || !window.fetch || !window.AbortController || !window.DOMParser) return;

  document.addEventListener("change", onEdit);
  document.addEventListener("input", onEdit);
  document.addEventListener("submit", function (event) {
    var form = currentForm();
    if (event.target !== form) return;
    event.preventDefault();
    save(form, true);
    attempts = 0;
    send();
  });
  window.addEventListener("online", function () {
    if (pending && !sending) send();
  });
  start(true);
})();
