/* The launch checklist (#checklist) refreshes itself after every change to the graph, so
 * its checks and its Activate button follow the sequence. Its fields (the test email's
 * recipients, the contact to render for and the search that found it, the pause options)
 * keep what the user typed or chose across such a refresh: without this, a refresh that
 * arrived while someone typed the recipients put the default address back. The answer to
 * the checklist's own forms (a test send, activate) is swapped in as it comes: it echoes
 * what was sent, with its errors.
 */
"use strict";

(function () {
  const checklist = document.getElementById("checklist");
  if (!checklist) return;
  const FIELDS = "input[id]:not([type=hidden]), select[id], textarea[id]";
  let kept = []; // what the user changed, by field id, while a refresh is swapped in

  function changed(field) {
    if (field.type === "checkbox" || field.type === "radio") {
      return field.checked !== field.defaultChecked;
    }
    if (field.tagName === "SELECT") {
      return [...field.options].some((option) => option.selected !== option.defaultSelected);
    }
    return field.value !== field.defaultValue;
  }

  function snapshot(field) {
    const state = { id: field.id, value: field.value, checked: field.checked };
    if (field.tagName === "SELECT") state.options = field.innerHTML; // a search may have filled it
    if (field === document.activeElement) {
      state.focused = true;
      // null where a caret does not apply (a radio button); undefined on a select
      if (field.selectionStart != null) state.caret = [field.selectionStart, field.selectionEnd];
    }
    return state;
  }

  function putBack(state) {
    const field = document.getElementById(state.id);
    if (!field || !checklist.contains(field)) return;
    if (state.options !== undefined) field.innerHTML = state.options;
    if (field.type === "checkbox" || field.type === "radio") field.checked = state.checked;
    else field.value = state.value;
    if (state.focused) field.focus();
    if (state.caret) field.setSelectionRange(...state.caret);
  }

  // Only the refresh's own request (made by #checklist itself) keeps the fields.
  checklist.addEventListener("htmx:beforeSwap", (event) => {
    kept = [];
    if (event.detail.elt !== checklist || event.detail.target !== checklist) return;
    const fields = [...checklist.querySelectorAll(FIELDS)];
    const touched = fields.filter((field) => changed(field) || field === document.activeElement);
    kept = touched.map(snapshot);
  });
  checklist.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target !== checklist) return;
    kept.forEach(putBack);
    kept = [];
  });
})();
