/* newsletter-service: solves a form's proof-of-work challenge (web/challenge.py) while the
 * reader types, so pressing Subscribe never waits for long. The ALTCHA scheme: find the
 * number whose SHA-256 with the given salt is the challenge. */
(function () {
  "use strict";

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function solve(c) {
    var encoder = new TextEncoder(), number = 0;
    function next() {
      if (number > c.maxnumber) { return Promise.resolve(""); }
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
  }

  function prepare(input) {
    var form = input.form;
    var ready = fetch(input.getAttribute("data-nl-challenge"), { credentials: "omit" })
      .then(function (response) { return response.json(); })
      .then(solve)
      .then(function (value) { input.value = value; });
    form.addEventListener("submit", function (event) {
      if (input.value) { return; }
      event.preventDefault();
      ready.then(function () {
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-nl-challenge]"), prepare);
}());
