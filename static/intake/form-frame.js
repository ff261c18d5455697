// Inside an embedded LeadCRM form (/f/<slug>/embed/). static/intake/embed.js on the page around
// it listens and answers:
// - the form asks for the visit's attribution (UTM parameters, click ids, the visitor's referrer,
//   the host page's address) and keeps the answer in its hidden fields;
// - it says how tall the form is whenever that changes;
// - after a successful submission it says where to go, when the form has a redirect.
// Without that script the form still works: it keeps the frame's own height and the host's
// origin as referrer, and the thank-you page offers a link.
(function () {
  "use strict";
  if (window.parent === window) return;
  var KEYS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid"];

  function send(message) {
    window.parent.postMessage(message, "*"); // a question, a height or a public URL: nothing secret
  }

  function hidden(form, name) {
    var input = form.querySelector('input[type="hidden"][name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    return input;
  }

  function keep(tracking) {
    var form = document.getElementById("capture-form");
    if (!form || !tracking || typeof tracking !== "object") return;
    // The host page knows the visit: its address and referrer replace what the frame's request
    // said (the host's origin). Tracking values the frame's own address carried stay.
    ["landing_page", "referrer"].forEach(function (name) {
      var value = typeof tracking[name] === "string" ? tracking[name] : "";
      if (value) hidden(form, name).value = value;
      else if (form.querySelector('input[type="hidden"][name="' + name + '"]')) hidden(form, name).remove();
    });
    KEYS.forEach(function (name) {
      var value = tracking[name];
      if (typeof value === "string" && value && !hidden(form, name).value) hidden(form, name).value = value;
    });
  }

  function reportHeight() {
    // The body's own height: the document's is never less than the frame's.
    send({ type: "leadcrm:height", height: document.body.getBoundingClientRect().height });
  }

  var redirected = false;
  function reportRedirect() {
    // Once, when the page's script is known to listen (it has just told the visit).
    var redirect = document.querySelector("[data-leadcrm-redirect]");
    if (redirect && !redirected) send({ type: "leadcrm:redirect", url: redirect.href });
    redirected = true;
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.source !== window.parent || !data || data.type !== "leadcrm:visit") return;
    keep(data.tracking);
    // The page's script may have come after this form: say again what it would have missed.
    reportHeight();
    reportRedirect();
  });
  send({ type: "leadcrm:hello" });
  window.addEventListener("load", reportHeight);
  if (window.ResizeObserver) new ResizeObserver(reportHeight).observe(document.body);
  reportHeight();
})();
