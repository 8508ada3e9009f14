// Enhancements only: every page works without this script.
"use strict";
(function () {
  // The confirmation page: ask for the order's status until the payment is
  // confirmed (the provider's webhook may land a moment after the redirect).
  var status = document.getElementById("order-status");
  if (status && status.dataset.paid === "false") {
    var tries = 0;
    var poll = function () {
      tries += 1;
      fetch(status.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (answer) {
          if (answer && answer.paid) {
            status.textContent = answer.label;
            status.dataset.paid = "true";
            var again = document.getElementById("check-again");
            if (again) { again.remove(); }
          } else if (tries < 30) {
            setTimeout(poll, 2000);
          }
        })
        .catch(function () { if (tries < 30) { setTimeout(poll, 4000); } });
    };
    setTimeout(poll, 1500);
  }

  // The payment page with the real provider: mount its Payment Element.
  var form = document.getElementById("payment-form");
  if (form && window.Stripe && form.dataset.publishableKey) {
    var stripe = window.Stripe(form.dataset.publishableKey);
    var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
    var mount = document.getElementById("payment-element");
    mount.textContent = "";
    elements.create("payment").mount(mount);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      stripe.confirmPayment({
        elements: elements,
        confirmParams: { return_url: new URL(form.dataset.returnUrl, window.location.href).href }
      }).then(function (result) {
        if (result.error) {
          document.getElementById("payment-message").textContent = result.error.message;
        }
      });
    });
  }
})();

// Console, fee preview: refresh the breakdown as the operator types (the
// form works without this: it is a plain GET form).
(function () {
  "use strict";
  var form = document.getElementById("fee-preview");
  if (!form || !window.fetch || !window.DOMParser || !window.URLSearchParams) { return; }
  var result = document.getElementById(form.dataset.previewTarget);
  if (!result) { return; }
  var timer = null;
  var latest = 0;
  var refresh = function () {
    var asked = ++latest;
    var query = new URLSearchParams(new FormData(form)).toString();
    var url = form.getAttribute("action") + "?" + query;
    fetch(url, { credentials: "same-origin", headers: { accept: "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (asked !== latest) { return; }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById(result.id);
        if (fresh) { result.innerHTML = fresh.innerHTML; }
      })
      .catch(function () { /* the button still works */ });
  };
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
})();
