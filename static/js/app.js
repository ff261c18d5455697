// LeadCRM page behaviour: small, dependency-free, and every page works without it.
(function () {
  "use strict";

  // "/" focuses the search box on pages that have one.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
    var box = document.querySelector("[data-shortcut='/']");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });

  // Column headers of the lead list sort through the filter form, so the form stays in step.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-sort]");
    var form = document.getElementById("lead-filters");
    if (!link || !form || !form.elements.sort || !form.requestSubmit) return;
    event.preventDefault();
    form.elements.sort.value = link.dataset.sort;
    form.requestSubmit();
  });

  // The stage form asks for a lost reason and a written reason only when the move needs them.
  function syncTransitionForm(root) {
    var select = root.querySelector("[data-transition-select]");
    var movesNode = root.querySelector("#transition-moves");
    if (!select || !movesNode) return;
    var moves = {};
    JSON.parse(movesNode.textContent).forEach(function (move) { moves[move.stage] = move; });
    var move = moves[select.value];
    var transition = move ? move.transition : "";
    root.querySelectorAll("[data-show-for]").forEach(function (field) {
      var show = field.dataset.showFor.split(" ").indexOf(transition) !== -1;
      var hasError = field.querySelector(".is-invalid") !== null;
      field.hidden = !show && !hasError;
    });
    var hint = root.querySelector(".reason-required");
    if (hint) hint.textContent = transition === "lose" ? "Required when the lost reason is Other." : move && move.needs_reason ? "Required to " + transition + " a lead." : "";
  }

  // Tasks are the only activities with a due date.
  function syncActivityForm(root) {
    var form = root.querySelector(".activity-form");
    if (!form) return;
    var checked = form.querySelector("input[name=kind]:checked");
    var due = form.querySelector(".due-field");
    if (!due) return;
    var isTask = checked && checked.value === "task";
    var hasError = due.querySelector(".is-invalid") !== null;
    due.hidden = !isTask && !hasError;
  }

  // The lead list's footer counts the rows loaded so far, as "Load more" appends pages.
  function syncResultsCount(root) {
    var count = root.querySelector("#results-count");
    if (!count || count.dataset.continuation) return;
    var rows = root.querySelectorAll(".lead-table tbody tr[data-lead]").length;
    var more = root.querySelector("#lead-load-more") !== null;
    count.textContent = "Showing " + rows + " lead" + (rows === 1 ? "" : "s") + (more ? " — scroll to the end for more." : ", all that match.");
  }

  function init(root) {
    syncTransitionForm(root);
    syncActivityForm(root);
    syncResultsCount(root);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-transition-select]")) syncTransitionForm(document);
    if (event.target.matches(".activity-form input[name=kind]")) syncActivityForm(document);
  });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { init(document); });
})();
