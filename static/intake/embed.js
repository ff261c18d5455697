// LeadCRM capture forms on another website. The snippet the admin shows puts this script right
// after the form's <iframe data-leadcrm-form>. For each such iframe it
// - tells the form the host page's UTM parameters and click ids, the visitor's referrer and the
//   host page's address (the browser would tell the form only the host's origin). It says so in
//   a message, not by changing the frame's address: the form never loads twice, and nothing a
//   visitor has typed is lost however late this script arrives;
// - sets the iframe's height to the form's, as the form reports it (after an error message,
//   for example), so that the form never scrolls inside its frame;
// - follows the form's redirect after a successful submission (a frame may not move its page).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var leadcrm = new URL(script.src, window.location.href).origin;
  var KEYS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid"];

  function forms() {
    return Array.prototype.filter.call(document.querySelectorAll("iframe[data-leadcrm-form]"), function (frame) {
      return new URL(frame.src, window.location.href).origin === leadcrm;
    });
  }

  function visit() {
    var here = new URLSearchParams(window.location.search);
    var tracking = { referrer: document.referrer, landing_page: window.location.href };
    KEYS.forEach(function (key) {
      if (here.get(key)) tracking[key] = here.get(key);
    });
    return { type: "leadcrm:visit", tracking: tracking };
  }

  function tell(frame) {
    // Only a page from LeadCRM's origin receives it; a frame still loading misses it and asks.
    if (frame.contentWindow) frame.contentWindow.postMessage(visit(), leadcrm);
  }

  forms().forEach(tell);

  if (window["leadcrmEmbed:" + leadcrm]) return; // one listener per LeadCRM site, however many snippets
  window["leadcrmEmbed:" + leadcrm] = true;
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== leadcrm || !data || typeof data !== "object") return;
    var frame = forms().filter(function (candidate) {
      return candidate.contentWindow === event.source;
    })[0];
    if (!frame) return;
    if (data.type === "leadcrm:hello") {
      tell(frame);
    } else if (data.type === "leadcrm:height" && typeof data.height === "number" && data.height > 0) {
      frame.style.height = Math.ceil(data.height) + "px";
      frame.style.minHeight = "0";
    } else if (data.type === "leadcrm:redirect" && typeof data.url === "string" && /^https?:\/\//i.test(data.url)) {
      window.location.assign(data.url);
    }
  });
})();
