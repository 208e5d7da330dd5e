/*! newsletter-service embed.js: signup forms on any page.
 * <script src="BASE/embed.js" async></script> + <div data-newsletter="SLUG"></div>
 * Also enhances plain forms posting to BASE/newsletters/SLUG/subscribe or BASE/subscribe,
 * or marked data-newsletter-form. No globals, no cookies, no third-party requests. */
(function () {
  "use strict";

  var script = document.currentScript ||
    document.querySelector('script[src$="/embed.js"]');
  if (!script) { return; }
  var BASE = script.src.replace(/\/embed\.js(?:[?#].*)?$/, "");
  var READY = "data-nls-ready";
  /* The two things said with no answer from us to read them from (every other text comes from
   * form.json or the answer): in the language of the nearest lang, the newsletter's for our forms. */
  var OWN = {
    en: ["The newsletter form could not be loaded.", "Sorry, that did not work. Please try again in a moment."],
    uk: ["Не вдалося завантажити форму розсилки.", "На жаль, не вийшло. Спробуйте ще раз за хвилинку."]
  };
  function said(node, which) {
    var marked = node.closest("[lang]"), lang = marked ? marked.lang.slice(0, 2).toLowerCase() : "";
    return (OWN[lang] || OWN.en)[which];
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (attrs[name] === true) { node.setAttribute(name, ""); }
      else if (attrs[name] != null && attrs[name] !== false) { node.setAttribute(name, attrs[name]); }
    });
    if (text != null) { node.textContent = text; }
    return node;
  }

  function uniquePrefix() {
    var prefix;
    do { prefix = "nls-" + Math.random().toString(36).slice(2, 8); }
    while (document.querySelector('[id^="' + prefix + '"]'));
    return prefix;
  }

  function addStylesheet() {
    if (document.querySelector("link[data-nls-style]")) { return; }
    document.head.appendChild(el("link", {
      rel: "stylesheet", href: BASE + "/embed.css", "data-nls-style": true
    }));
  }

  function request(url, options) {
    options.credentials = "omit";
    options.mode = "cors";
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  /* ---- a form drawn from its description ---- */

  function field(description, prefix) {
    var id = prefix + "-" + description.name;
    var box = el("div", { "class": "nls-field nls-field-" + description.type });
    var input = el("input", {
      id: id, name: description.name, type: description.type,
      required: description.required, "aria-required": description.required ? "true" : null,
      autocomplete: description.autocomplete, maxlength: description.maxlength
    });
    if (description.type === "checkbox") { input.value = "y"; }
    var label = el("label", { "for": id }, description.label);
    if (description.required) {
      label.appendChild(document.createTextNode(" "));
      label.appendChild(el("span", { "class": "nls-required", "aria-hidden": "true" }, "*"));
    }
    if (description.type === "checkbox") { box.appendChild(input); box.appendChild(label); }
    else { box.appendChild(label); box.appendChild(input); }
    return box;
  }

  /* ---- the newsletter's optional challenge (proof of work, Turnstile or hCaptcha) ---- */

  var solving = typeof WeakMap === "function" ? new WeakMap() : null;

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  /* Find the number whose SHA-256 with the salt is the challenge (the ALTCHA scheme). */
  function solvePow(url) {
    return request(url, { method: "GET" }).then(function (answer) {
      var c = answer.body, encoder = new TextEncoder(), number = 0;
      function next() {
        if (number > c.maxnumber) { return ""; }
        return crypto.subtle.digest("SHA-256", encoder.encode(c.salt + number)).then(function (d) {
          if (hex(d) === c.challenge) {
            return btoa(JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge,
              number: number, salt: c.salt, signature: c.signature }));
          }
          number += 1;
          return next();
        });
      }
      return next();
    });
  }

  function challengeBox(form, challenge) {
    var box = el("div", { "class": "nls-challenge" });
    if (challenge.kind === "pow") {
      var input = el("input", { type: "hidden", name: challenge.field });
      box.appendChild(input);
      var solved = solvePow(challenge.url).then(function (value) { input.value = value; });
      if (solving) { solving.set(form, solved); }
    } else {
      box.appendChild(el("div", { "class": challenge.widget_class, "data-sitekey": challenge.sitekey }));
      if (!document.querySelector('script[src="' + challenge.script + '"]')) {
        document.head.appendChild(el("script", { src: challenge.script, async: true, defer: true }));
      }
    }
    return box;
  }

  /* Bot traps: a field people never see or reach, and when the form was drawn. */
  function traps(t) {
    var box = el("div", { "class": "nls-trap", "aria-hidden": "true" });
    box.appendChild(el("input", { type: "text", name: t.honeypot, tabindex: "-1", autocomplete: "off" }));
    box.appendChild(el("input", { type: "hidden", name: t.stamp_field, value: t.stamp }));
    return box;
  }

  function render(host, description) {
    var prefix = uniquePrefix();
    var card = el("div", { "class": "nls-card" });
    card.appendChild(el("h2", { "class": "nls-title", id: prefix + "-title" }, description.name));
    if (description.description) {
      card.appendChild(el("p", { "class": "nls-description" }, description.description));
    }
    var form = el("form", {
      "class": "nls-form", method: "post", action: description.action,
      novalidate: true, "aria-labelledby": prefix + "-title"
    });
    var note = el("p", { "class": "nls-note" });
    note.appendChild(el("span", { "aria-hidden": "true" }, "*"));
    note.appendChild(document.createTextNode(" " + description.required_note));
    form.appendChild(note);
    description.fields.forEach(function (f) { form.appendChild(field(f, prefix)); });
    if (description.traps) { form.appendChild(traps(description.traps)); }
    if (description.challenge) { form.appendChild(challengeBox(form, description.challenge)); }
    form.appendChild(el("button", { "class": "nls-button", type: "submit" }, description.submit_label));
    card.appendChild(form);
    host.textContent = "";
    host.classList.add("nls-root");
    host.setAttribute("lang", description.language || "en");
    host.appendChild(card);
    enhance(form, prefix, description);
  }

  function load(host) {
    var slug = host.getAttribute("data-newsletter");
    host.setAttribute(READY, "");
    request(BASE + "/embed/" + encodeURIComponent(slug) + "/form.json", { method: "GET" })
      .then(function (answer) {
        if (answer.status !== 200) { throw new Error(answer.status); }
        render(host, answer.body);
      })
      .catch(function () {
        host.classList.add("nls-root");
        host.textContent = "";
        host.appendChild(el("p", { "class": "nls-problem" }, said(host, 0)));
      });
  }

  /* ---- submitting without leaving the page ---- */

  function payload(form) {
    var data = { source: location.origin + location.pathname };
    Array.prototype.forEach.call(form.elements, function (input) {
      var ticked = input.type === "checkbox" || input.type === "radio";
      if (!input.name || input.disabled || input.name === "embed" || input.name === "source" ||
          input.type === "submit" || input.type === "button") { return; }
      if (input.name === "consent" && input.type === "checkbox") {
        data.consent = input.checked;
      } else if (input.name === "newsletters") {
        data.newsletters = data.newsletters || [];
        if (!ticked || input.checked) { data.newsletters.push(input.value); }
      } else if (!ticked || input.checked) {
        data[input.name] = input.value;
      }
    });
    return data;
  }

  /* Where a field's message goes: inside our field box or a fieldset, else after the input. */
  function fieldTarget(form, name) {
    var found = form.elements[name];
    if (!found) { return null; }
    var inputs = found.tagName ? [found] : Array.prototype.slice.call(found);
    var first = inputs[0];
    var box = first.closest(".nls-field") || (inputs.length > 1 && first.closest("fieldset"));
    if (box) { return { inputs: inputs, anchor: box, where: "beforeend" }; }
    var last = inputs[inputs.length - 1];
    return { inputs: inputs, anchor: last.closest("label") || last, where: "afterend" };
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll(".nls-error"), function (node) { node.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("[data-nls-invalid]"), function (input) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("data-nls-invalid");
      var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && id.indexOf(form.getAttribute("data-nls-prefix")) !== 0;
      });
      if (ids.length) { input.setAttribute("aria-describedby", ids.join(" ")); }
      else { input.removeAttribute("aria-describedby"); }
    });
  }

  function showErrors(form, prefix, errors) {
    var first = null;
    Object.keys(errors).forEach(function (name) {
      var target = fieldTarget(form, name);
      var id = prefix + "-" + name + "-error";
      var message = el("p", { "class": "nls-error", id: id }, errors[name].join(" "));
      if (!target) { form.insertBefore(message, form.querySelector('[type="submit"]')); return; }
      target.anchor.insertAdjacentElement(target.where, message);
      target.inputs.forEach(function (input) {
        var described = input.getAttribute("aria-describedby");
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("data-nls-invalid", "");
        input.setAttribute("aria-describedby", described ? described + " " + id : id);
      });
      first = first || target.inputs[0];
    });
    if (first) { first.focus(); }
  }

  function showProblem(form, prefix, text) {
    var problem = el("p", { "class": "nls-error nls-problem", id: prefix + "-problem", role: "alert" }, text);
    form.appendChild(problem);
  }

  function showSuccess(form, status, success, message) {
    status.textContent = "";
    if (success) {
      status.appendChild(el("p", { "class": "nls-success-title" }, success.title));
      status.appendChild(el("p", { "class": "nls-success-message" }, success.message));
    } else {
      status.appendChild(el("p", { "class": "nls-success-message" }, message));
    }
    form.hidden = true;
    status.focus();
  }

  /* The emailed 6-digit code, typed into the same box: confirmed without leaving the page. */
  function codeStep(status, prefix, email, t) {
    var id = prefix + "-code", box = el("form", { "class": "nls-code", novalidate: true });
    var input = el("input", { id: id, name: "code", inputmode: "numeric", maxlength: 6,
      autocomplete: "one-time-code", "aria-describedby": id + "-msg" });
    var note = el("p", { "class": "nls-error", id: id + "-msg", "aria-live": "assertive" });
    var field = el("div", { "class": "nls-field" });
    field.appendChild(el("label", { "for": id }, t.label));
    field.appendChild(input);
    field.appendChild(note);
    box.appendChild(el("p", {}, t.hint));
    box.appendChild(field);
    box.appendChild(el("button", { "class": "nls-button", type: "submit" }, t.button));
    status.insertAdjacentElement("afterend", box);
    box.addEventListener("submit", function (event) {
      event.preventDefault();
      request(BASE + "/confirm/code", { method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ email: email, code: input.value, lang: t.language })
      }).then(function (answer) {
        if (answer.body.ok) {
          box.remove();
          status.textContent = "";
          status.appendChild(el("p", { "class": "nls-success-title" }, answer.body.message));
          status.focus();
          return;
        }
        input.setAttribute("aria-invalid", "true");
        note.textContent = (answer.body.errors || {}).code || answer.body.error || said(box, 1);
        input.focus();
      }).catch(function () { note.textContent = said(box, 1); });
    });
  }

  function enhance(form, prefix, description) {
    form.setAttribute(READY, "");
    form.setAttribute("data-nls-prefix", prefix);
    /* The live region exists before it is filled, so screen readers announce the message. */
    var status = el("div", { "class": "nls-status", role: "status", "aria-live": "polite", tabindex: "-1" });
    form.insertAdjacentElement("afterend", status);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector('[type="submit"]');
      clearErrors(form);
      if (button) { button.disabled = true; }
      var ready = (solving && solving.get(form)) || Promise.resolve(), data;
      ready.then(function () {
        data = payload(form);
        return request(form.action, {
          method: "POST",
          headers: { "Content-Type": "application/json", "Accept": "application/json" },
          body: JSON.stringify(data)
        });
      }).then(function (answer) {
        if (answer.status === 200 && answer.body.ok) {
          showSuccess(form, status, description && description.success, answer.body.message);
          var texts = (description && description.code) || answer.body.code;
          if (texts) { codeStep(status, prefix, data.email, texts); }
        } else if (answer.status === 422 && answer.body.errors) {
          showErrors(form, prefix, answer.body.errors);
        } else {
          showProblem(form, prefix, answer.body.error || said(form, 1));
        }
      }).catch(function () {
        showProblem(form, prefix, said(form, 1));
      }).then(function () {
        if (button) { button.disabled = false; }
      });
    });
  }

  function ours(form) {
    if (form.hasAttribute("data-newsletter-form")) { return true; }
    var action = form.getAttribute("action");
    if (!action) { return false; }
    var url = new URL(action, location.href).href.replace(/[?#].*$/, "");
    return url === BASE + "/subscribe" ||
      (url.indexOf(BASE + "/newsletters/") === 0 && /\/newsletters\/[^/]+\/subscribe$/.test(url));
  }

  function start() {
    var hosts = document.querySelectorAll("[data-newsletter]:not([" + READY + "])");
    var forms = Array.prototype.filter.call(
      document.querySelectorAll("form:not([" + READY + "])"), ours);
    if (hosts.length || forms.length) { addStylesheet(); }
    Array.prototype.forEach.call(hosts, load);
    forms.forEach(function (form) { enhance(form, uniquePrefix(), null); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
