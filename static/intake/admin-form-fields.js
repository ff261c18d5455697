// The capture-form admin's field rows (intake.widgets.FormFieldsEditor): add a row, move rows
// up and down. The rows post in the order they stand; without this script the page still
// works (a blank row adds a field, the order is the order of the rows).
(function () {
  "use strict";

  function setUp(editor) {
    var name = editor.getAttribute("data-form-fields");
    var body = editor.querySelector("tbody");
    var count = editor.querySelector("[data-count]");
    var template = editor.querySelector("template[data-new-row]");

    function renumber() {
      var rows = body.querySelectorAll("tr[data-row]");
      rows.forEach(function (row, index) {
        row.querySelectorAll("[name]").forEach(function (input) {
          var field = input.name.slice(input.name.lastIndexOf("-") + 1);
          input.name = name + "-" + index + "-" + field;
          input.id = "id_" + input.name;
        });
        row.querySelector("[data-up]").disabled = index === 0;
        row.querySelector("[data-down]").disabled = index === rows.length - 1;
      });
      count.value = rows.length;
    }

    function show(row) {
      row.querySelector("[data-move]").hidden = false;
    }

    editor.querySelector("[data-move-heading]").hidden = false;
    body.querySelectorAll("tr[data-row]").forEach(show);
    editor.querySelector("[data-add]").hidden = false;

    editor.querySelector("[data-add] button").addEventListener("click", function () {
      var row = template.content.firstElementChild.cloneNode(true);
      show(row);
      body.appendChild(row);
      renumber();
      row.querySelector("select").focus();
    });

    body.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-up], button[data-down]");
      if (!button) return;
      var row = button.closest("tr");
      if (button.hasAttribute("data-up") && row.previousElementSibling) {
        body.insertBefore(row, row.previousElementSibling);
      } else if (button.hasAttribute("data-down") && row.nextElementSibling) {
        body.insertBefore(row.nextElementSibling, row);
      }
      renumber();
      button.focus();
    });

    renumber();
  }

  function setUpAll() {
    document.querySelectorAll("[data-form-fields]").forEach(setUp);
  }

  // The admin loads a form's scripts in the page's head, before the form.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpAll);
  else setUpAll();
})();
